"""Worker names: what a new one may hold, and how any one is shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmltui.domain.names import (
    name_key,
    name_problem,
    normalize_name,
    unsafe_characters,
    visible,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cml-lab-01\u200b", "zero-width"),
        ("\ufeffcml", "zero-width"),
        ("cml\u202elab", "bidi control"),
        ("cml\u2066lab", "bidi control"),
        ("lab\x9b31m", "control"),
        ("lab\x1b[31m", "control"),
        ("lab\x00", "control"),
        ("two\u2028lines", "line separator"),
        ("two\nlines", "control"),
    ],
)
def test_unsafe_characters_are_refused_and_named(name, kind):
    problem = name_problem(name)
    assert problem is not None and kind in problem
    # The message itself shows the character escaped, never raw.
    assert all(ch not in problem for ch in "\u200b\ufeff\u202e\u2066\x9b\x1b\x00\u2028\n")


@pytest.mark.parametrize("name", ["cml-lab-01", "Lab 7 (EMEA)", "ünïcødé-ok", "a" * 256])
def test_ordinary_names_pass(name):
    assert name_problem(name) is None


def test_blank_and_overlong_names_are_refused():
    assert "needs a name" in (name_problem(normalize_name("   ")) or "")
    assert "at most 256" in (name_problem("a" * 257) or "")


def test_visible_escapes_what_cannot_be_seen():
    assert visible("cml-lab-01") == "cml-lab-01"
    assert visible("cml-lab-01\u200b") == "cml-lab-01\\u200b"
    assert visible("x\x9b31m") == "x\\x9b31m"
    assert visible("a\u202eb") == "a\\u202eb"


def test_an_escaped_look_alike_never_reads_as_the_escape():
    # A name that literally holds the six characters "\u200b" differs from one holding U+200B.
    assert visible("lab\\u200b") != visible("lab\u200b")


@given(st.text(max_size=40), st.text(max_size=40))
def test_visible_tells_different_names_apart(a, b):
    if a != b:
        assert visible(a) != visible(b)


@given(st.text(max_size=40))
def test_visible_text_holds_no_unsafe_character(text):
    assert unsafe_characters(visible(text)) == []


def test_look_alike_keys():
    assert name_key(" CML-Lab-01 ") == name_key("cml-lab-01")
    assert name_key("ｃｍｌ") == name_key("cml")  # full-width letters fold (NFKC)
    assert name_key("cml-lab-01") != name_key("cml-lab-02")
