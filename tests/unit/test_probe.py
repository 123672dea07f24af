"""Probing reads container headers; bad media becomes a reason, never an exception."""

from __future__ import annotations

from callmine.probe import probe_audio
from callmine.recordings import Recording
from callmine.transcript import Diarization
from tests.audio import write_wav


def test_probe_reads_duration_and_channels(tmp_path):
    result = probe_audio(str(write_wav(tmp_path / "a.wav", seconds=2.5, channels=2)))
    assert (result.duration_s, result.channels, result.codec, result.error) == (2.5, 2, "pcm_s16le", None)


def test_probe_reports_garbage_as_unreadable(tmp_path):
    path = tmp_path / "x.mp3"
    path.write_bytes(b"\x00garbage" * 200)
    result = probe_audio(str(path))
    assert result.error is not None and result.error.startswith("unreadable audio")


def test_probe_reports_a_file_without_audio_frames_as_empty(tmp_path):
    result = probe_audio(str(write_wav(tmp_path / "silent.wav", seconds=0.0)))
    assert result.error is not None


def test_stereo_recordings_use_channel_diarization_and_mono_model_diarization():
    base = dict(call_id="c", source_uri="file:///a.wav", call_date="2026-11-20", format="wav")
    assert Recording(**base, channels=2).diarization is Diarization.CHANNEL
    assert Recording(**base, channels=1).diarization is Diarization.MODEL
