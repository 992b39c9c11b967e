"""CloudWatch CPU figures of the gateway: ceil(N/500) GetMetricData calls for N instances."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from cmltui.aws.gateway_transport import CLOUDWATCH_SERVICE, GatewayTransport, chunks, unique

#: GetMetricData accepts at most 500 MetricDataQueries per call.
METRIC_QUERIES_PER_CALL = 500
CPU_PERIOD_SECONDS = 300  # basic EC2 monitoring; a multiple of 60 as the API requires
CPU_WINDOW = timedelta(minutes=15)


class MetricsMixin(GatewayTransport):
    """CPUUtilization per instance (part of ``AwsGateway``)."""

    async def cpu_utilization(self, region: str, instance_ids: Sequence[str]) -> dict[str, float]:
        """Newest average CPUUtilization per instance over the last 15 minutes.

        At most ``METRIC_QUERIES_PER_CALL`` queries per GetMetricData call; instances without a
        datapoint are absent from the result.
        """
        ids = unique(instance_ids)
        if not ids:
            return {}
        end = self._clock()
        start = end - CPU_WINDOW
        parts = await asyncio.gather(
            *(
                self._run(region, CLOUDWATCH_SERVICE, partial(self._cpu_chunk, chunk, start, end))
                for chunk in chunks(ids, METRIC_QUERIES_PER_CALL)
            )
        )
        merged: dict[str, float] = {}
        for part in parts:
            merged.update(part)
        return merged

    @staticmethod
    def _cpu_chunk(
        instance_ids: list[str], start: datetime, end: datetime, cloudwatch: Any
    ) -> dict[str, float]:
        queries = [
            {
                "Id": f"c{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    },
                    "Period": CPU_PERIOD_SECONDS,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for index, instance_id in enumerate(instance_ids)
        ]
        newest: dict[str, tuple[datetime, float]] = {}
        paginator = cloudwatch.get_paginator("get_metric_data")
        pages = paginator.paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                query_id = result.get("Id", "")
                if not query_id.startswith("c") or not query_id[1:].isdigit():
                    continue
                instance_id = instance_ids[int(query_id[1:])]
                for when, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    if instance_id not in newest or when > newest[instance_id][0]:
                        newest[instance_id] = (when, float(value))
        return {instance_id: value for instance_id, (_, value) in newest.items()}
