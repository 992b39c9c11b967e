"""Counted words (issue 15 #8): no message reads "1 workers" or "1 of them have"."""

from __future__ import annotations

import pytest

from cmltui.domain.plural import noun_form, plural, these


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 workers"), (1, "1 worker"), (2, "2 workers")]
)
def test_plural_agrees_with_the_count(count, expected):
    assert plural(count, "worker") == expected


def test_irregular_plural_and_verbs():
    assert plural(1, "copy", "copies") == "1 copy"
    assert plural(3, "copy", "copies") == "3 copies"
    assert noun_form(1, "has", "have") == "has"
    assert noun_form(2, "has", "have") == "have"


def test_these_names_one_target_or_counts_several():
    assert these(1, "worker") == "this worker"
    assert these(3, "lab") == "these 3 labs"
