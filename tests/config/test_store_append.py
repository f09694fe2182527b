"""append_table: a new [[providers]] / [[models]] block is set off by the blank lines the rest
of the file uses, and leaves no stray blank lines at the end. Checked on the exact text."""

from __future__ import annotations

import tomlkit

from ccm.config.store import append_table, blank_lines_between_tables

PROVIDER = {"name": "new", "provider_type": "openai", "api_key": "$NEW_KEY"}
MODEL = {
    "name": "m2",
    "mappings": [
        {"provider": "new", "actual_model": "x", "priority": 1},
        {"provider": "old", "actual_model": "y", "priority": 2},
    ],
}


def appended(text: str, array: str, data: dict) -> str:
    doc = tomlkit.parse(text)
    append_table(doc, array, data)
    out = tomlkit.dumps(doc)
    assert tomlkit.parse(out)[array][-1].unwrap()["name"] == data["name"]
    return out


def test_a_provider_after_the_last_provider_gets_one_blank_line() -> None:
    text = '[server]\nport = 1\n\n[[providers]]\nname = "old"\nprovider_type = "openai"\n'
    assert appended(text, "providers", PROVIDER) == (
        text + '\n[[providers]]\nname = "new"\nprovider_type = "openai"\napi_key = "$NEW_KEY"\n'
    )


def test_a_provider_before_the_next_section_keeps_the_gap_on_both_sides() -> None:
    text = (
        '[[providers]]\nname = "old"\nprovider_type = "openai"\n\n'
        '# the router comes next\n[router]\ndefault = "m"\n'
    )
    assert appended(text, "providers", PROVIDER) == (
        '[[providers]]\nname = "old"\nprovider_type = "openai"\n\n'
        '[[providers]]\nname = "new"\nprovider_type = "openai"\napi_key = "$NEW_KEY"\n\n'
        '# the router comes next\n[router]\ndefault = "m"\n'
    )


def test_the_first_provider_of_a_file_and_no_blank_lines_left_at_the_end() -> None:
    text = "# my config\n[server]\nport = 1\n"
    assert appended(text, "providers", PROVIDER) == (
        "# my config\n[server]\nport = 1\n\n"
        '[[providers]]\nname = "new"\nprovider_type = "openai"\napi_key = "$NEW_KEY"\n'
    )
    # an empty file gets no blank line on top
    assert appended("", "providers", PROVIDER).startswith("[[providers]]\n")


def test_a_model_with_mappings_follows_the_file_style() -> None:
    text = (
        '[[models]]\nname = "m1"\n\n[[models.mappings]]\nprovider = "old"\nactual_model = "z"\n'
        "priority = 1\n\n\n"  # stray blank lines at the end go
    )
    assert appended(text, "models", MODEL) == (
        '[[models]]\nname = "m1"\n\n[[models.mappings]]\nprovider = "old"\nactual_model = "z"\n'
        'priority = 1\n\n[[models]]\nname = "m2"\n\n'
        '[[models.mappings]]\nprovider = "new"\nactual_model = "x"\npriority = 1\n\n'
        '[[models.mappings]]\nprovider = "old"\nactual_model = "y"\npriority = 2\n'
    )


def test_a_file_without_blank_lines_between_tables_gets_none() -> None:
    text = '[server]\nport = 1\n[[providers]]\nname = "old"\nprovider_type = "openai"\n'
    assert blank_lines_between_tables(text) == 0
    assert appended(text, "providers", PROVIDER) == (
        text + '[[providers]]\nname = "new"\nprovider_type = "openai"\napi_key = "$NEW_KEY"\n'
    )


def test_two_blank_lines_when_the_file_uses_two_and_comments_stay_with_their_table() -> None:
    text = (
        '[server]\nport = 1\n\n\n[[providers]]\nname = "old"\nprovider_type = "openai"\n'
        '# api_key = "$OLD"  (kept with old)\n'
    )
    assert blank_lines_between_tables(text) == 2
    assert appended(text, "providers", PROVIDER) == (
        text + '\n\n[[providers]]\nname = "new"\nprovider_type = "openai"\napi_key = "$NEW_KEY"\n'
    )


def test_the_shipped_example_gets_a_provider_and_a_model_in_its_own_style() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "config.toml"
    text = example.read_text()
    out = appended(appended(text, "providers", PROVIDER), "models", MODEL)
    assert "\n\n\n" not in out
    assert '[[providers]]\nname = "new"' in out
    new_at = out.index('[[providers]]\nname = "new"')
    assert out[new_at - 2 : new_at] == "\n\n"  # one blank line above
    assert out[out.index('api_key = "$NEW_KEY"\n') :].startswith('api_key = "$NEW_KEY"\n\n[')
    assert out.count("[[models]]") == text.count("[[models]]") + 1
    assert '\nname = "m2"\n\n[[models.mappings]]\nprovider = "new"' in out
