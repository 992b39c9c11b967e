"""The transport layer under ``CmlApiClient``: every httpx failure and every non-2xx answer
becomes one of ``cmltui.cml.errors``' typed errors, with a short reason."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import httpx

from cmltui.cml.errors import (
    CmlAuthError,
    CmlBadResponseError,
    CmlError,
    CmlHttpError,
    CmlNotReadyError,
    CmlTimeoutError,
    CmlTlsError,
    CmlUnreachableError,
)
from cmltui.cml.wire import error_reason, shorten

NOT_READY_STATUSES = frozenset({502, 503, 504})

_P = ParamSpec("_P")
_R = TypeVar("_R")


def released(response: httpx.Response) -> httpx.Response:
    """The response, freed by reference counting once dropped.

    httpx leaves each response in a reference cycle (the response holds its bound stream, which
    holds the response), with the request, headers and the pool's bookkeeping hanging off it:
    ~36 objects a request that only the cyclic garbage collector frees. At 1,000 workers that is
    ~50,000 objects a cycle, collected in 20-50 ms pauses that stop every thread, the UI's too.
    A response that is read and closed (every call here; none streams) needs its stream no more.
    """
    if response.is_closed:
        response.stream = httpx.ByteStream(b"")
    return response


def typed_errors(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Last line of the promise: an unexpected exception leaves as CmlBadResponseError."""

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except CmlError:
            raise
        except Exception as err:
            name = method.__name__
            raise CmlBadResponseError(
                f"{name}: {type(err).__name__}: {shorten(str(err), 80)}"
            ) from err

    return wrapper


def _error_chain(err: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_error(err: httpx.HTTPError, what: str, *, refused_is_not_ready: bool) -> CmlError:
    """An httpx failure as a typed error (TLS, refused, timeout, dropped connection...)."""
    chain = _error_chain(err)
    detail = shorten(str(err) or type(err).__name__, 100)
    if isinstance(err, httpx.TimeoutException):
        return CmlTimeoutError(
            f"{what}: {type(err).__name__.replace('Timeout', ' timeout').lower()}"
        )
    if any(isinstance(link, ssl.SSLCertVerificationError) for link in chain) or (
        isinstance(err, httpx.ConnectError)
        and any(isinstance(link, ssl.SSLError) for link in chain)
    ):
        return CmlTlsError(f"{what}: TLS failure: {detail}")
    if isinstance(err, httpx.ConnectError):
        refused = any(isinstance(link, ConnectionRefusedError) for link in chain) or (
            "refused" in detail.lower()
        )
        if refused:
            error_type = CmlNotReadyError if refused_is_not_ready else CmlUnreachableError
            return error_type(f"{what}: connection refused")
        return CmlUnreachableError(f"{what}: cannot connect: {detail}")
    if isinstance(err, httpx.DecodingError):
        return CmlBadResponseError(f"{what}: undecodable body")
    if isinstance(err, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return CmlUnreachableError(f"{what}: connection dropped ({type(err).__name__})")
    return CmlUnreachableError(f"{what}: {type(err).__name__}: {detail}")


def raise_for_status(response: httpx.Response, what: str) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    if code in (401, 403):
        raise CmlAuthError(f"{what}: {error_reason(response)}", status_code=code)
    if code in NOT_READY_STATUSES:
        raise CmlNotReadyError(f"{what}: HTTP {code}, controller not ready", status_code=code)
    raise CmlHttpError(f"{what}: HTTP {code} {error_reason(response)}", status_code=code)


def decode_json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CmlBadResponseError(f"{what}: malformed JSON") from None


class CallsTransport:
    """Base of the client's call mixins (``LicenceCalls``, ``LabCalls``): the one request
    method they use, ``CmlApiClient._call``, declared once for the type checker."""

    if TYPE_CHECKING:

        async def _call(
            self,
            method: str,
            path: str,
            *,
            what: str,
            params: dict[str, str] | None = None,
            json_body: Any = None,
            content: bytes | None = None,
            auth: bool = True,
            refused_is_not_ready: bool = False,
        ) -> httpx.Response: ...
