"""JWTs shaped like CML's (HS256; iss, sub, iat, exp, jti), signed with a per-server secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

ISSUER = "com.cisco.virl"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _numeric_date(value: float) -> int | float:
    # JWT NumericDate may be fractional; keep whole seconds whole, as real servers do.
    return int(value) if float(value).is_integer() else round(value, 3)


def issue_token(
    secret: bytes, *, user_id: str, issued_at: float, ttl_seconds: float
) -> tuple[str, str]:
    """A signed token and its ``jti`` (the server keeps the jti to revoke tokens)."""
    jti = secrets.token_hex(8)
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "iss": ISSUER,
        "sub": user_id,
        "iat": _numeric_date(issued_at),
        "exp": _numeric_date(issued_at + ttl_seconds),
        "jti": jti,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
    )
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}", jti


def verify_token(secret: bytes, token: str) -> dict[str, Any] | None:
    """The payload when the signature holds (expiry and revocation are the caller's), else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    expected = _b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        payload = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
