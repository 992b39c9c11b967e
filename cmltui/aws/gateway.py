"""``AwsGateway``: EC2 and CloudWatch for every configured region, through boto3.

Shape of every call: ``await gateway.op(region, ...)`` takes the region's semaphore (at most
``aws.max_concurrent_calls_per_region`` calls in flight per region), then runs the blocking
boto3 code in the gateway's own thread pool, so the event loop never blocks and a slow region
only holds its own slots. botocore does the retrying (standard mode, ``total_max_attempts``);
whatever still fails leaves the gateway as one of the typed errors of ``cmltui.aws.errors``.

Cost of the regular refresh for N managed workers in R regions: R x ceil(N/1000)
DescribeInstances pages, plus R x ceil(N/500) GetMetricData calls, plus one DescribeImages per
region whenever unseen AMI ids appear (names are cached per AMI id).

Each job is a part in its own module, over the shared state and calls of
``gateway_transport.GatewayTransport`` (session, clients, thread pool, semaphores, request
counts, error mapping, close): ``gateway_describe`` (describe, look up, discover, adopt),
``gateway_launch`` (launch a worker; start, stop, terminate) and ``gateway_metrics``
(CloudWatch CPU).
"""

from __future__ import annotations

from cmltui.aws.gateway_describe import DescribeMixin
from cmltui.aws.gateway_launch import LaunchMixin
from cmltui.aws.gateway_metrics import MetricsMixin
from cmltui.aws.gateway_transport import GatewayTransport

__all__ = ["AwsGateway"]


class AwsGateway(DescribeMixin, LaunchMixin, MetricsMixin, GatewayTransport):
    """EC2 + CloudWatch for every region (implements ``cmltui.services.ports.FleetGateway``)."""
