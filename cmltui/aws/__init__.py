"""boto3 adapter: the EC2 and CloudWatch gateway, its DTOs and typed errors."""
