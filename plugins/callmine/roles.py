"""Decide which speaker of a call is the ``agent`` and which the ``customer``.

Policy, by kind of speaker key (see ``callmine.transcript``):

- Stereo channels (``ch0``, ``ch1``...): the telephony platform records the
  agent on a fixed channel, so the configured ``agent_speaker`` (default
  ``ch0``) is ``agent`` and every other channel is ``customer``. With
  ``agent_speaker=None`` (channel layout unknown) channels get None.
- Model diarization (``speaker_0``, ``speaker_1``...), exactly two speakers:
  the speaker of the earliest segment is ``agent``, because contact-centre
  calls open with the agent's greeting; the other is ``customer``.
- Model diarization with one speaker (voicemail? one side only?) or more than
  two (IVR prompt, hold message, transfer): nobody can be told apart, all None.
- Any other key: None.

Every speaker in ``segments`` gets an entry, so callers can ``roles[speaker]``.
"""

from __future__ import annotations

import re

from callmine.transcript import Segments

AGENT = "agent"
CUSTOMER = "customer"
DEFAULT_AGENT_CHANNEL = "ch0"

_CHANNEL_KEY = re.compile(r"ch\d+")
_MODEL_KEY = re.compile(r"speaker_\d+")


def assign_roles(
    segments: Segments, agent_speaker: str | None = DEFAULT_AGENT_CHANNEL
) -> dict[str, str | None]:
    """Speaker key -> ``"agent"`` / ``"customer"`` / None, per the module policy.

    ``agent_speaker`` is the stereo channel key the agent is recorded on; it
    must look like ``chN`` (a model key here would silently make everyone a
    customer, so it is rejected).
    """
    if agent_speaker is not None and not _CHANNEL_KEY.fullmatch(agent_speaker):
        raise ValueError(f"agent_speaker must be a channel key like 'ch0', got {agent_speaker!r}")

    # Speakers in order of first speech (a Transcript's segments are in time order).
    speakers = list(dict.fromkeys(segments.speaker))

    roles: dict[str, str | None] = dict.fromkeys(speakers)
    model_speakers = [spk for spk in speakers if _MODEL_KEY.fullmatch(spk)]
    for spk in speakers:
        if _CHANNEL_KEY.fullmatch(spk) and agent_speaker is not None:
            roles[spk] = AGENT if spk == agent_speaker else CUSTOMER
    if len(model_speakers) == 2:
        opener, other = model_speakers  # already in order of first speech
        roles[opener] = AGENT
        roles[other] = CUSTOMER
    return roles
