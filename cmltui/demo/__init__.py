"""The demo fleet: moto's server for EC2 and CloudWatch, the fake CML server, and their setup."""
