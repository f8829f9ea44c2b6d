"""A1111's prompt syntax, parsed to weights (cases from A1111's own documentation)."""

import pytest

from studio.recipe.prompt_syntax import Run, parse


def runs(prompt):
    return [(run.text, round(run.weight, 4)) if not run.is_break else "BREAK" for run in parse(prompt)]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("((very)) important", [("very", 1.21), (" important", 1.0)]),
        ("(word:1.3)", [("word", 1.3)]),
        ("(word:1.0)", [("word", 1.0)]),
        ("(two words: 0.5)", [("two words", 0.5)]),
        ("[word]", [("word", 0.9091)]),
        ("[[word]]", [("word", 0.8264)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        (r"\(literal\]", [("(literal]", 1.0)]),
        (r"a \(b\) c", [("a (b) c", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        ("time: noon", [("time: noon", 1.0)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.573),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641),
                (".", 1.1),
            ],
        ),
        ("a cat BREAK a dog", [("a cat", 1.0), "BREAK", ("a dog", 1.0)]),
        # A1111 scales its BREAK entry (-1) with the brackets, so inside them BREAK is the word, weighted -1.2.
        ("(a cat BREAK a dog:1.2)", [("a cat", 1.2), ("BREAK", -1.2), ("a dog", 1.2)]),
        ("[(a BREAK b)]", [("a", 1.0), "BREAK", ("b", 1.0)]),  # 1.1 then 1/1.1: exactly -1 again, as in A1111
        ("a BREAK BREAK b", [("a", 1.0), "BREAK", "BREAK", ("b", 1.0)]),
        ("BREAKFAST", [("BREAKFAST", 1.0)]),
        ("", [("", 1.0)]),
    ],
)
def test_prompt_syntax_table(prompt, expected):
    assert runs(prompt) == expected


def test_runs_are_plain_data():
    assert parse("(x:2)") == [Run("x", 2.0)]


def test_lora_tags_in_and_out_of_prompts():
    from studio.recipe.prompt_syntax import effective_loras, lora_tags, prompt_with_lora_tags

    prompt, tags = lora_tags("a girl <lora:mira:0.8>, sky <lora:ink> <lora:neg:-0.5>")
    assert prompt == "a girl , sky  " and tags == [("mira", 0.8), ("ink", 1.0), ("neg", -0.5)]
    assert (
        prompt_with_lora_tags("a girl <lora:mira:0.8>", [("mira", 0.3), ("ink", 0.5)])
        == "a girl <lora:mira:0.8> <lora:ink:0.5>"
    )
    # The recipe's own weight wins over a tag of the same name.
    assert effective_loras("x <lora:mira:0.8>", (("mira", 0.2),))[1] == [("mira", 0.2)]
