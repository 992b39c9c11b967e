"""Typed CML client errors: every failure becomes one of these, with a short reason."""

from __future__ import annotations


class CmlError(Exception):
    """Base of every CML client error; ``reason`` is short enough for a status line."""

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        self.reason = reason
        self.status_code = status_code
        super().__init__(reason)


class CmlUnreachableError(CmlError):
    """Connection refused, reset, or DNS failure."""


class CmlTimeoutError(CmlError):
    """Connect, read or total timeout."""


class CmlTlsError(CmlError):
    """The certificate did not verify (wrong CA, hostname mismatch, expired...)."""


class CmlNotReadyError(CmlError):
    """The controller answers 502/503/504 or reports ready=false: it is still starting."""


class CmlAuthError(CmlError):
    """Login refused (403), or a 401 persisted after one re-login."""


class CmlHttpError(CmlError):
    """Any other 4xx/5xx answer; ``status_code`` is set."""


class CmlBadResponseError(CmlError):
    """Malformed JSON, or JSON of the wrong shape."""
