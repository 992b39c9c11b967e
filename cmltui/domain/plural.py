"""Counted words for messages: "1 worker", "2 workers", "1 of them has", "3 of them have".

One helper for the UI, the CLI and the services, so that no message reads "1 workers".
"""

from __future__ import annotations


def noun_form(count: int, singular: str, plural_form: str | None = None) -> str:
    """The word that goes with ``count``: ``singular`` for exactly one, else the plural
    (``singular + "s"`` unless given: ``noun_form(2, "lab is", "labs are")``)."""
    if count == 1:
        return singular
    return plural_form if plural_form is not None else f"{singular}s"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and its word: ``plural(1, "worker")`` is "1 worker", ``plural(0, "worker")``
    "0 workers", ``plural(2, "copy", "copies")`` "2 copies"."""
    return f"{count} {noun_form(count, singular, plural_form)}"


def these(count: int, singular: str, plural_form: str | None = None) -> str:
    """The targets of a question: "this worker" for one, "these 3 workers" for more."""
    if count == 1:
        return f"this {singular}"
    return f"these {plural(count, singular, plural_form)}"
