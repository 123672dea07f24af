"""The ``openai`` provider: any OpenAI-compatible ``/v1/audio/transcriptions`` (a request provider).

These services do not diarize (bar OpenAI's ``*-diarize`` models), so a stereo call
(``Diarization.CHANNEL``) is split into its channels here, each sent as its own mono
16-bit WAV: exact speaker separation, ``ch0`` / ``ch1``. A mono call is one request and
one speaker (``speaker_0``), unless the answer labels its segments with speakers
(``diarized_json``), which are then used (``A``/``B`` -> ``speaker_0``/``speaker_1``).
Raw answers: the service's JSON for mono, ``{"channels": [answer_ch0, answer_ch1, ...]}``
for stereo.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from callmine.errors import ProviderError, outcome_of
from callmine.hooks.openai_audio import OpenAIAudioHook
from callmine.providers.base import AudioSource, Fatal, FetchedTranscript, JobRequest, Rejected, RequestProvider, RetryLater
from callmine.transcript import Diarization, Segments, TranscriptError, build_transcript, channel_speaker, model_speaker

# OpenAI's documented input formats; other compatible servers accept at least these.
ACCEPTED_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_CHANNEL_RATE = 16_000  # recognizers resample to 16 kHz anyway; higher rates only inflate uploads

Outcome = Rejected | RetryLater | Fatal


def request_outcome(error: ProviderError, conn_id: str) -> Outcome:
    """``callmine.errors.outcome_of``, plus what only a request service says: a model the server
    does not know (400 on every file alike) and a redirect (a wrong base URL) are configuration."""
    if error.code == "model_not_found" or (error.status is not None and error.status < 400):
        return Fatal(f"{error} — check the host and model of the Airflow connection {conn_id!r}")
    return outcome_of(error, conn_id)


def worst(outcomes: list[Outcome]) -> Outcome:
    """Of several requests' failures, the one that decides the call: Fatal > Rejected > RetryLater."""
    for kind in (Fatal, Rejected):
        for outcome in outcomes:
            if isinstance(outcome, kind):
                return outcome
    waits = [o.after_s for o in outcomes if isinstance(o, RetryLater) and o.after_s is not None]
    first = outcomes[0]
    return RetryLater(first.reason, after_s=max(waits) if waits else None)


def split_channels(content: bytes, max_rate: int = MAX_CHANNEL_RATE) -> list[bytes]:
    """Each channel of a recording as a mono 16-bit PCM WAV (exact samples at <= ``max_rate``)."""
    import av  # PyAV: decodes every format the pipeline accepts

    try:
        with av.open(io.BytesIO(content)) as container:
            if not container.streams.audio:
                raise TranscriptError("no audio stream in the file")
            stream = container.streams.audio[0]
            rate = min(stream.codec_context.sample_rate or max_rate, max_rate)
            resampler = av.AudioResampler(format="s16p", layout=stream.codec_context.layout, rate=rate)
            blocks = [out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)]
            blocks += [out.to_ndarray() for out in resampler.resample(None)]  # flush
    except av.error.FFmpegError as exc:
        raise TranscriptError(f"could not decode audio: {exc.strerror or exc}") from None
    if not blocks:
        raise TranscriptError("recording is empty (no audio frames)")
    pcm = np.concatenate(blocks, axis=1)  # (channels, samples), int16
    return [_wav(pcm[ch], rate) for ch in range(pcm.shape[0])]


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


class OpenAIAudioProvider(RequestProvider):
    name = "openai"
    default_conn_id = "openai_audio_default"
    service = "OpenAI-compatible transcription"

    def __init__(self, conn_id: str | None = None, hook: OpenAIAudioHook | None = None) -> None:
        self.hook = hook or OpenAIAudioHook(conn_id or self.default_conn_id)
        self.conn_id = self.hook.openai_audio_conn_id

    def check(self, filename: str, size_bytes: int | None) -> Rejected | None:
        # The size limit is per request, and a stereo call is sent as its channels: it is
        # checked in arequest, on what is actually uploaded, still before any upload.
        ext = Path(filename).suffix.lower().lstrip(".")
        if ext not in ACCEPTED_FORMATS:
            return Rejected(f"{self.service} accepts {', '.join(ACCEPTED_FORMATS)} files, not "
                            f"{('.' + ext) if ext else 'a file without extension'}: convert the recording first")
        return None

    def async_client(self) -> httpx.AsyncClient:
        return self.hook.async_client()

    async def arequest(self, client: httpx.AsyncClient, request: JobRequest,
                       audio: AudioSource) -> dict[str, Any] | Outcome:
        content = audio.content
        if content is None:  # the request trigger always reads the recording for us
            return Fatal(f"{self.service} uploads the recording: it needs its bytes, not only {audio.url!r}")
        try:
            settings = await self.hook.aget_settings()
        except ProviderError as error:  # no connection, no host: an operator must act
            return Fatal(str(error))
        stem = Path(audio.filename).stem
        if request.diarization is Diarization.CHANNEL:
            try:  # decoding is CPU work: off the triggerer's event loop
                channels = await asyncio.to_thread(split_channels, content)
            except TranscriptError as exc:
                return Rejected(f"cannot split {audio.filename} into channels: {exc}")
            if len(channels) < 2:
                return Rejected(f"{audio.filename} has 1 channel: channel diarization needs a stereo recording")
            uploads = [(f"{stem}.ch{i}.wav", data) for i, data in enumerate(channels)]
        else:
            uploads = [(audio.filename, content)]
        limit = settings.max_upload_bytes
        for name, data in uploads:
            if len(data) > limit:
                return Rejected(f"{name} is {len(data) / 1048576:.1f} MB, over the {limit / 1048576:.0f} MB "
                                f"per-request limit of connection {self.conn_id!r} (extra max_upload_mb)")
        answers = await asyncio.gather(*(self._one(client, name, data, request.language) for name, data in uploads))
        failed = [a for a in answers if not isinstance(a, dict)]
        if failed:
            return worst(failed)
        if request.diarization is Diarization.CHANNEL:
            return {"channels": answers}
        return answers[0]

    async def _one(self, client: httpx.AsyncClient, name: str, data: bytes,
                   language: str | None) -> dict[str, Any] | Outcome:
        try:
            return await self.hook.atranscribe(client, name, data, language=language)
        except ProviderError as error:
            return request_outcome(error, self.conn_id)

    def parse(self, raw: dict[str, Any], request: JobRequest, duration_s: float | None) -> FetchedTranscript:
        if not isinstance(raw, dict):
            raise TranscriptError(f"{self.service} answer is not a JSON object")
        channel_mode = isinstance(raw.get("channels"), list)
        parts = raw["channels"] if channel_mode else [raw]
        cols = _Columns()
        labels: dict[str, str] = {}
        durations = []
        for index, answer in enumerate(parts):
            if not isinstance(answer, dict):
                raise TranscriptError(f"{self.service} answer for channel {index} is not a JSON object")
            if isinstance(answer.get("duration"), (int, float)):
                durations.append(float(answer["duration"]))
            if channel_mode:
                cols.add(answer, lambda _label, i=index: channel_speaker(i), channel=index)
            else:
                cols.add(answer, lambda label: _speaker_for(label, labels), channel=None)
        if channel_mode:
            diarization = Diarization.CHANNEL
        else:
            diarization = Diarization.MODEL if labels else Diarization.NONE
        text = None if channel_mode else (str(raw.get("text") or "").strip() or None)
        transcript = build_transcript(
            diarization=diarization, segments=cols.segments, word_start=cols.w_start, word_end=cols.w_end,
            word_text=cols.w_text, word_speaker=cols.w_speaker, word_confidence=[None] * len(cols.w_text),
            speaker_labels={key: label for label, key in labels.items()}, text=text,
            audio_seconds=max(durations) if durations else duration_s, duration_s=duration_s,
        )
        return FetchedTranscript(transcript=transcript, billed_seconds=sum(durations) if durations else None)


def _speaker_for(label: str | None, labels: dict[str, str]) -> str:
    """Service labels (A, B, or names) -> speaker_0, speaker_1 in order of first appearance."""
    if label is None:
        return "speaker_0"
    return labels.setdefault(label, model_speaker(len(labels)))


class _Columns:
    """Segments and words of one or more answers, as build_transcript takes them."""

    def __init__(self) -> None:
        self.segments = Segments()
        self.w_start: list[float] = []
        self.w_end: list[float] = []
        self.w_text: list[str] = []
        self.w_speaker: list[str | None] = []

    def add(self, answer: dict[str, Any], speaker_of: Any, channel: int | None) -> None:
        segments = [s for s in answer.get("segments") or [] if str(s.get("text") or "").strip()]
        words = [w for w in answer.get("words") or [] if str(w.get("word") or w.get("text") or "").strip()]
        for i, seg in enumerate(segments):
            start, end = _times(seg, f"segment {i}")
            label = seg.get("speaker")
            self.segments.start.append(start)
            self.segments.end.append(end)
            self.segments.text.append(str(seg["text"]).strip())
            self.segments.speaker.append(speaker_of(None if label is None else str(label)))
            self.segments.channel.append(channel)
        if not segments and words:  # word granularity only: one segment spanning the words
            self.segments.start.append(_times(words[0], "word 0")[0])
            self.segments.end.append(_times(words[-1], "last word")[1])
            self.segments.text.append(str(answer.get("text") or " ".join(str(w.get("word")) for w in words)).strip())
            self.segments.speaker.append(speaker_of(None))
            self.segments.channel.append(channel)
        elif not segments and str(answer.get("text") or "").strip():
            raise TranscriptError("the answer has text but no segments or words: ask for verbose_json")
        for i, word in enumerate(words):
            start, end = _times(word, f"word {i}")
            self.w_start.append(start)
            self.w_end.append(end)
            self.w_text.append(str(word.get("word") or word.get("text")).strip())
            self.w_speaker.append(speaker_of(None) if channel is not None else None)


def _times(item: dict[str, Any], what: str) -> tuple[float, float]:
    start, end = item.get("start"), item.get("end")
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        raise TranscriptError(f"{what} has no start/end time")
    start = max(0.0, float(start))
    return start, max(start, float(end))  # recognizers sometimes end a word a hair before its start
