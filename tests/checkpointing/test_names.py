"""Name validation and checkpoint id generation."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkpointing import InvalidNameError, validate_name
from checkpointing.store._ids import new_checkpoint_id

BAD_NAMES = {
    "not a str": 123,
    "empty": "",
    "too long": "x" * 201,
    "slash": "a/b",
    "backslash": "a\\b",
    "nul": "a\x00b",
    "control": "a\nb",
    "format char": "a\u200bb",
    "dot": ".",
    "dotdot": "..",
    "inner dotdot": "a..b",
    "leading dot": ".hidden",
    "leading dash": "-rf",
    "leading space": " a",
    "trailing space": "a ",
}


@pytest.mark.parametrize("value", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_rejected(value):
    with pytest.raises(InvalidNameError) as info:
        validate_name(value, what="stage")
    assert isinstance(info.value, ValueError)
    assert "stage" in str(info.value)


@pytest.mark.parametrize("value", ["etl", "a.b", "x" * 200, "données_2024", "a-b c"])
def test_good_names_pass_unchanged(value):
    assert validate_name(value) == value


def follows_the_rules(value: str) -> bool:
    """The documented rules, written out one by one."""
    return (
        0 < len(value) <= 200
        and "/" not in value
        and "\\" not in value
        and not any(unicodedata.category(c) in ("Cc", "Cf") for c in value)
        and ".." not in value
        and value[0] not in ".-"
        and value == value.strip()
    )


@settings(max_examples=600, derandomize=True)
@given(
    value=st.text(alphabet=st.sampled_from("aZ09_-. /\\\x00\n\u200bé"), max_size=8)
    | st.text(max_size=6)
)
def test_a_name_is_accepted_exactly_when_it_follows_every_rule(value):
    try:
        validate_name(value)
    except InvalidNameError:
        assert not follows_the_rules(value)
    else:
        assert follows_the_rules(value)


def test_id_has_pipeline_stage_timestamp_and_suffix():
    checkpoint_id, when = new_checkpoint_id("etl", "extract")
    assert re.fullmatch(r"etl_extract_\d{8}T\d{12}Z_[0-9a-f]{8}", checkpoint_id)
    assert when.strftime("%Y%m%dT%H%M%S%fZ") in checkpoint_id
    assert when.utcoffset() is not None


def test_ids_are_unique_and_sort_by_time():
    ids = [new_checkpoint_id("etl", "s")[0] for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    stamps = [i.split("_")[2] for i in ids]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_too_long_together_is_rejected():
    with pytest.raises(InvalidNameError, match="together are too long"):
        new_checkpoint_id("p" * 150, "s" * 150)


def test_multibyte_names_are_measured_in_bytes():
    with pytest.raises(InvalidNameError, match="too long"):
        new_checkpoint_id("é" * 100, "s")


def test_the_forbidden_character_class_is_exactly_unicodes_control_and_format_characters():
    """The precompiled class used for speed rejects exactly the Cc and Cf code points."""
    import sys
    import unicodedata

    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        try:
            validate_name(f"a{ch}b")
            reason = ""
        except InvalidNameError as exc:
            reason = str(exc)
        forbidden = unicodedata.category(ch) in ("Cc", "Cf")
        assert ("control or format" in reason) == forbidden, hex(code)
