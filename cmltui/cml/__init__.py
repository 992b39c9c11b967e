"""httpx adapter: the async CML REST API client, its models, status mapping and typed errors."""
