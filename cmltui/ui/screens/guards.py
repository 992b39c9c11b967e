"""Decorators for the main view's key handlers: no traceback on screen, no change when read-only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from cmltui.ui.actions import ACTIONS_BY_ID

F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Run a handler; an unexpected error is logged and toasted, never shown as a traceback."""

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            self.fleet_app.log_unexpected(err)
            return None

    return wrapper  # type: ignore[return-value]


def mutating(method: F) -> F:
    """Refuse (and say why) in read-only mode; the key stays bound so it can explain."""

    @wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        action_id = method.__name__.removeprefix("action_")
        if self.fleet_app.read_only:
            description = ACTIONS_BY_ID[action_id].description.lower()
            self.notify(
                f"Read-only mode: '{description}' is disabled ({self.fleet_app.read_only_reason}).",
                severity="warning",
                markup=False,
            )
            return None
        return method(self, *args, **kwargs)

    return guarded(wrapper)  # type: ignore[return-value]
