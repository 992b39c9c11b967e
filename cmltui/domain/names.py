"""Worker names an operator can trust: what a new name may hold, and how any name is shown.

A name is read by a person and typed back (terminate asks for it), so two names that look the
same must be the same. New names (create, import) are trimmed and refused when they hold a
character that is invisible or moves other text; names that already hold one (set in EC2 by
someone else) are shown with it escaped visibly (``\\u200b``), everywhere, so the operator
sees the difference and can type exactly what is shown.
"""

from __future__ import annotations

import unicodedata

#: Characters that change how the rest of a line reads, by kind (for the refusal message).
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u034f\u115f\u1160\u3164")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_SEPARATORS = frozenset("\u2028\u2029\u0085")

#: The longest name EC2's Name tag holds (256 characters).
MAX_NAME_LENGTH = 256


def _kind(character: str) -> str | None:
    """Which kind of unsafe character this is, or None for an ordinary one."""
    if character in _LINE_SEPARATORS:
        return "line separator"
    if character in _BIDI:
        return "bidi control"
    if character in _ZERO_WIDTH:
        return "zero-width"
    category = unicodedata.category(character)
    if category == "Cc":
        return "control"
    if category == "Cf":  # other format characters are invisible too
        return "zero-width"
    return None


def unsafe_characters(text: str) -> list[tuple[int, str, str]]:
    """Every unsafe character of ``text`` as (position, character, kind)."""
    found = []
    for position, character in enumerate(text):
        kind = _kind(character)
        if kind is not None:
            found.append((position, character, kind))
    return found


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def name_problem(name: str) -> str | None:
    """Why ``name`` (already trimmed) cannot name a new worker, or None when it can."""
    if not name:
        return "a worker needs a name"
    if len(name) > MAX_NAME_LENGTH:
        return f"a name holds at most {MAX_NAME_LENGTH} characters (this one {len(name)})"
    found = unsafe_characters(name)
    if found:
        kinds = sorted({kind for _, _, kind in found})
        shown = ", ".join(f"{_escape(ch)} at {pos + 1}" for pos, ch, _ in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return (
            f"the name holds {' and '.join(kinds)} characters that cannot be seen or that "
            f"reorder text ({shown}{more}); use letters, digits and punctuation"
        )
    return None


def normalize_name(name: str) -> str:
    """A new name as it will be stored: leading and trailing white space removed."""
    return name.strip()


def visible(text: str) -> str:
    """``text`` with every unsafe character escaped (``\\u200b``), and a backslash doubled only
    where it would otherwise read as such an escape, so two different names never look alike."""
    if not unsafe_characters(text) and "\\" not in text:
        return text
    out = []
    for character in text:
        if _kind(character) is not None:
            out.append(_escape(character))
        elif character == "\\":
            out.append("\\\\")
        else:
            out.append(character)
    return "".join(out)


def name_key(name: str) -> str:
    """What two names must differ in to be told apart: trimmed, case-folded, NFKC-normalised."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()
