"""A number the artist typed is used as typed or refused by its field, never rounded or clamped (issue 25, 5)."""

from __future__ import annotations

import pytest

from studio.recipe import RecipeError
from studio.ui.form import typed_whole_number
from studio.ui.running import in_the_windows_words


@pytest.mark.parametrize("typed", [None, "", "ten", 2.5, "2.5", True])
def test_an_empty_box_words_or_a_fraction_are_refused_by_the_field_s_label(typed):
    with pytest.raises(RecipeError) as refused:
        typed_whole_number("steps", typed)
    assert refused.value.field == "steps"
    assert in_the_windows_words(refused.value).startswith("Steps: ")


@pytest.mark.parametrize(("typed", "used"), [(0, 0), (12, 12), (12.0, 12), ("7", 7), (-1, -1)])
def test_a_whole_number_is_used_as_typed_and_its_range_is_the_recipe_s_to_check(typed, used):
    assert typed_whole_number("steps", typed) == used
