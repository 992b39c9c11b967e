"""Tests of the CML client and the fake CML server."""
