"""cmltui: a terminal dashboard for fleets of Cisco Modeling Labs workers on AWS EC2."""

__version__ = "0.1.0"
