"""The pure domain: the CMLWorker aggregate, its enums, events and repository interface.

Nothing here does I/O or imports boto3, httpx, tinydb or textual (a test checks it).
"""
