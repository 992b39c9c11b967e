"""The demo moto server's fault injector speaks DynamoDB's JSON protocol (bench/team.py throttles
a team's table with it), and counts EC2 start/stop requests per instance (to match automatic
stops against the stops EC2 received)."""

from __future__ import annotations

import threading

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from cmltui.store.dynamodb_schema import create_table


def _dynamodb(aws_session, moto, attempts: int):
    return aws_session.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto.url,
        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_a_throttled_dynamodb_answer_is_aws_shaped_and_retried_by_botocore(moto, aws_session):
    client = _dynamodb(aws_session, moto, attempts=3)
    create_table(client, "t-faults")
    moto.faults.throttle("dynamodb", count=2, action="GetItem")
    reply = client.get_item(TableName="t-faults", Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
    assert "Item" not in reply
    assert reply["ResponseMetadata"]["RetryAttempts"] == 2  # both throttles were retried
    assert moto.request_counts[("dynamodb", "GetItem")] == 3

    moto.faults.throttle("dynamodb", count=None)
    with pytest.raises(ClientError) as err:
        _dynamodb(aws_session, moto, attempts=1).put_item(
            TableName="t-faults", Item={"pk": {"S": "x"}, "sk": {"S": "y"}}
        )
    response = err.value.response
    assert response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    moto.faults.clear()
    client.put_item(TableName="t-faults", Item={"pk": {"S": "x"}, "sk": {"S": "y"}})
    assert moto.request_counts[("ec2", "")] == 0  # a DynamoDB call is not counted as EC2


def test_stop_and_start_requests_are_counted_per_instance(moto, moto_client):
    ec2 = moto_client("ec2", "us-east-1")
    image = ec2.register_image(Name="img", RootDeviceName="/dev/sda1")["ImageId"]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]
    ]
    ec2.stop_instances(InstanceIds=ids)
    ec2.start_instances(InstanceIds=ids[:1])
    assert moto.faults.instance_requests[("StopInstances", ids[0])] == 1
    assert moto.faults.instance_requests[("StopInstances", ids[1])] == 1
    assert moto.faults.instance_requests[("StartInstances", ids[0])] == 1
    assert moto.faults.instance_requests[("StartInstances", ids[1])] == 0
    moto.reset()
    assert not moto.faults.instance_requests


def test_concurrent_transactions_on_the_moto_server_never_answer_500(moto, aws_session):
    """moto's TransactWriteItems deep-copies the table while other request threads write it
    (RuntimeError, HTTP 500); the fault injector hands DynamoDB requests to moto one at a time
    (bench/team.py saw the 500s with three engines on one table)."""
    client = _dynamodb(aws_session, moto, attempts=1)
    create_table(client, "t-concurrent")
    for n in range(300):  # a table big enough that the rollback copy takes a while
        client.put_item(
            TableName="t-concurrent", Item={"pk": {"S": f"seed{n}"}, "sk": {"S": "x" * 200}}
        )
    errors: list[str] = []

    def writer(name: str) -> None:
        own = _dynamodb(aws_session, moto, attempts=1)
        for n in range(15):
            items = [
                {
                    "Put": {
                        "TableName": "t-concurrent",
                        "Item": {"pk": {"S": f"{name}-{n}-{k}"}, "sk": {"S": "s"}},
                    }
                }
                for k in range(5)
            ]
            try:
                own.transact_write_items(TransactItems=items)
            except ClientError as err:
                errors.append(str(err))

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert moto.request_counts[("dynamodb", "TransactWriteItems")] == 6 * 15
