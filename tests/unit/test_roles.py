"""Agent / customer assignment policy."""

from __future__ import annotations

import pytest

from callmine.roles import assign_roles
from callmine.transcript import Segments


def segments(*rows: tuple[str, float]) -> Segments:
    """Rows of (speaker, start); segments last one second."""
    result = Segments()
    for speaker, start in rows:
        result.speaker.append(speaker)
        result.start.append(start)
        result.end.append(start + 1)
        result.text.append("")
        result.channel.append(None)
    return result


def test_agent_channel_defaults_to_ch0_and_other_channels_are_customers() -> None:
    segs = segments(("ch1", 0), ("ch0", 2))
    assert assign_roles(segs) == {"ch0": "agent", "ch1": "customer"}


def test_configured_agent_channel_is_agent() -> None:
    segs = segments(("ch0", 0), ("ch1", 2))
    assert assign_roles(segs, agent_speaker="ch1") == {"ch0": "customer", "ch1": "agent"}


def test_channels_have_no_role_when_agent_channel_is_unknown() -> None:
    segs = segments(("ch0", 0), ("ch1", 2))
    assert assign_roles(segs, agent_speaker=None) == {"ch0": None, "ch1": None}


def test_customer_channel_alone_is_still_customer() -> None:
    assert assign_roles(segments(("ch1", 0))) == {"ch1": "customer"}


def test_model_speaker_of_first_segment_is_agent() -> None:
    segs = segments(("speaker_1", 0), ("speaker_0", 2), ("speaker_1", 4))
    assert assign_roles(segs) == {"speaker_1": "agent", "speaker_0": "customer"}


def test_single_model_speaker_has_no_role() -> None:
    assert assign_roles(segments(("speaker_0", 0))) == {"speaker_0": None}


def test_more_than_two_model_speakers_have_no_role() -> None:
    segs = segments(("speaker_0", 0), ("speaker_1", 2), ("speaker_2", 4))
    assert set(assign_roles(segs).values()) == {None}


def test_unknown_speaker_keys_have_no_role() -> None:
    assert assign_roles(segments(("A", 0), ("B", 1))) == {"A": None, "B": None}


def test_no_segments_gives_no_roles() -> None:
    assert assign_roles(Segments()) == {}


def test_agent_speaker_must_be_a_channel_key() -> None:
    with pytest.raises(ValueError, match="speaker_0"):
        assign_roles(segments(("ch0", 0)), agent_speaker="speaker_0")
