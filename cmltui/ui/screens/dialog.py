"""The base of every dialog: closes once, and its close keys act before the keys queued behind.

Keys that arrive in one burst (a paste, ``tmux send-keys``, a fast typist) are routed to the
focused widget when the app reads them, not when they are handled. Without priority, the keys
behind an ``escape`` still go to the dialog that is closing: ``esc G q`` would lose ``G`` and
give ``q`` to the dialog. Priority bindings run as the key is read, so the dialog is gone before
the next key is routed.
"""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen

ResultT = TypeVar("ResultT")


def close_binding(keys: str, action: str, description: str = "Close") -> Binding:
    """A dialog's close (or answer) key: priority, so a burst behind it reaches the main view."""
    return Binding(keys, action, description, show=False, priority=True)


class Dialog(ModalScreen[ResultT]):
    """A modal dialog that closes at most once."""

    def close(self, result: ResultT | None = None) -> None:
        """Dismiss, unless already closed (two closing keys or clicks in one burst).

        ``dismiss`` pops whichever screen is on top: a second call would pop the main view.
        """
        if self.app.screen is self:
            self.dismiss(result)
