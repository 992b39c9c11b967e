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


class CmlLabError(CmlHttpError):
    """CML answered a lab request with a 4xx. ``reason`` names the action, the lab and CML's
    reason; ``action`` ("start", "stop", "wipe", "delete", "download", "import", "read"),
    ``lab_id`` (None for an import), ``lab_title`` (when known) and ``cml_reason`` (CML's
    ``description``, or the HTTP reason phrase) ride along for the UI and the audit trail."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None,
        action: str,
        lab_id: str | None = None,
        lab_title: str | None = None,
        cml_reason: str = "",
    ) -> None:
        super().__init__(reason, status_code=status_code)
        self.action = action
        self.lab_id = lab_id
        self.lab_title = lab_title
        self.cml_reason = cml_reason


class CmlLabNotFoundError(CmlLabError):
    """404: the lab is not (or no longer) on the controller."""


class CmlLabRefusedError(CmlLabError):
    """CML refused the request: 400 for its own rules (wipe needs a stopped lab, delete a
    stopped and wiped one, "Cannot start lab", an invalid topology), 403 without permission
    on the lab, 409, 413 for an import larger than nginx allows..."""


class CmlTopologyError(CmlError):
    """A topology refused before it was sent: empty, larger than CML accepts, not a CML
    topology, or a title CML would not take."""
