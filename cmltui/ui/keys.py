"""Keys that a terminal glued together: ``esc`` followed at once by a letter reads as ``alt+``.

An xterm-style terminal sends Alt+G as ESC G, so a parser that sees ESC and G in one read
reports ``alt+shift+g``. cmltui binds no Alt keys, and ESC then a key is what happens when an
operator (or ``tmux send-keys``, or a paste) presses esc and goes straight on: the dialog must
close and the key must act. ``split_glued_escape`` turns such a key back into the two.
"""

from __future__ import annotations

#: (key name, character) as Textual's ``events.Key`` takes them.
KeyPress = tuple[str, str | None]

ESCAPE: KeyPress = ("escape", "\x1b")


def split_glued_escape(key: str, character: str | None) -> list[KeyPress] | None:
    """``alt+shift+g`` with character ``G`` -> ``[escape, G]``; None for any other key.

    Only letters and digits come glued (the parser drops the ESC before punctuation).
    """
    if not key.startswith("alt+") or not character or len(character) != 1:
        return None
    if not character.isalnum():
        return None
    return [ESCAPE, (character, character)]
