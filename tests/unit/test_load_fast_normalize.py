"""The fast normalize path (typed arrays, speaker codes, in-place reorder) changes no answer.

``normalize_pyai_result`` hands ``build_transcript`` float64 copies of the word times
(``WordArrays``), speakers as ``SpeakerCodes`` and its own lists to reorder in place. Each
test compares it with the plain path (lists of keys, no arrays) on the same document.
"""

from __future__ import annotations

import json
import math
import random

import msgspec
import pytest

from callmine.providers import pyai_result
from callmine.providers.pyai_result import PyAIResult, normalize_pyai_result
from callmine.transcript import Diarization, Segments, Transcript, build_transcript


def _plain(doc: PyAIResult, diarization: Diarization, duration_s: float | None) -> Transcript:
    """``normalize_pyai_result`` as every other provider builds: plain lists, nothing precomputed."""
    segs, words = doc.segments or [], doc.words or []
    if duration_s is None:
        pyai_result._check_within_audio("segment", [s.start for s in segs], doc.audio_seconds)
        pyai_result._check_within_audio("word", [w.start for w in words], doc.audio_seconds)
    seg_keys = pyai_result._speaker_keys([s.channel for s in segs], [s.speaker for s in segs])
    originals: dict[str, str] = {}
    for key, s in zip(seg_keys, segs):
        original = s.channel if s.channel is not None else s.speaker
        if key is not None and original is not None:
            originals.setdefault(key, str(original))
    return build_transcript(
        diarization=diarization,
        segments=Segments([s.start for s in segs], [s.end for s in segs], [(s.text or "").strip() for s in segs],
                          [k or "speaker_0" for k in seg_keys], [s.channel for s in segs]),
        word_start=[w.start for w in words], word_end=[w.end for w in words],
        word_text=[w.word or w.text or "" for w in words],
        word_speaker=pyai_result._speaker_keys([w.channel for w in words], [w.speaker for w in words]),
        word_confidence=[w.confidence for w in words], speaker_labels=originals, text=doc.text,
        audio_seconds=doc.audio_seconds, duration_s=duration_s,
        subtitle_urls={f: u for f, u in (doc.formats or {}).items() if f in ("srt", "vtt") and u},
    )


def _fields(t: Transcript) -> tuple:
    s, w = t.segments, t.words
    return (t.text, t.diarization, t.audio_seconds, t.original_speakers, t.subtitle_urls,
            (s.start, s.end, s.text, s.speaker, s.channel),
            (w.start, w.end, w.word, w.speaker, w.confidence, w.segment_idx))


def _outcome(fn, *args):
    try:
        return "ok", _fields(fn(*args))
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return type(exc).__name__, str(exc)


def _random_doc(rng: random.Random) -> dict:
    stereo = rng.random() < 0.5
    segments, words = [], []
    t = rng.uniform(0, 1)
    for k in range(rng.randint(0, 6)):
        label = "A" if rng.random() < 0.03 else rng.choice(["speaker_0", "speaker_1", 0, 1])  # "A": not canonical
        who = {"channel": k % 2} if stereo else {"speaker": label}
        n = rng.randint(1, 5)
        seg_start = round(t, 3)
        segments.append({"start": seg_start, "end": round(t + n * 0.4, 3), "text": f" s{k} ", **who})
        for i in range(n):
            word = {"start": round(t + i * 0.4, 3), "end": round(t + i * 0.4 + 0.3, 3)}
            word["word" if rng.random() < 0.8 else "text"] = f"w{k}.{i}"
            if rng.random() < 0.85:
                word.update(who)
            if rng.random() < 0.9:
                word["confidence"] = round(rng.uniform(0.5, 1), 2)
            words.append(word)
        t += n * 0.4 + rng.choice([-0.6, -0.2, 0.3, 1.0])
    if rng.random() < 0.2:  # some providers do not sort
        rng.shuffle(segments)
    doc = {"text": None, "audio_seconds": round(t + 2, 2), "segments": segments, "words": words,
           "formats": {"srt": "https://x/s.srt", "json": "https://x/j"}}
    if words and rng.random() < 0.3:  # a hostile value somewhere
        item = rng.choice(words + segments)
        item[rng.choice(["start", "end"])] = rng.choice([math.nan, math.inf, -1.0, 1e300, 2.0**60, 3600.0])
    return doc


@pytest.mark.parametrize("duration_s", [None, 3.0, 7, 1e9])
def test_fast_path_equals_the_plain_path_on_random_documents(duration_s: float | None) -> None:
    rng = random.Random(21)
    for _ in range(1500):
        doc = _random_doc(rng)
        diarization = rng.choice(list(Diarization))
        typed = msgspec.convert(doc, PyAIResult)
        assert _outcome(normalize_pyai_result, doc, diarization, duration_s) == \
            _outcome(_plain, typed, diarization, duration_s), doc


def test_bytes_and_dict_and_struct_inputs_give_the_same_transcript() -> None:
    rng = random.Random(5)
    for _ in range(300):
        doc = _random_doc(rng)
        as_bytes = _outcome(normalize_pyai_result, json.dumps(doc).encode(), Diarization.CHANNEL)
        if "NaN" in json.dumps(doc) or "Infinity" in json.dumps(doc):
            continue  # not JSON: only the dict form can carry them
        assert as_bytes == _outcome(normalize_pyai_result, doc, Diarization.CHANNEL)
        assert as_bytes == _outcome(normalize_pyai_result, msgspec.convert(doc, PyAIResult), Diarization.CHANNEL)


def test_cached_arrays_match_the_transcript_lists_after_clipping() -> None:
    rng = random.Random(4)
    for _ in range(300):
        doc = _random_doc(rng)
        try:
            t = normalize_pyai_result(doc, Diarization.CHANNEL, duration_s=2.5)
        except Exception:  # noqa: BLE001 - hostile documents fail; only built transcripts matter here
            continue
        for columns, names in ((t.segments, ("start", "end")), (t.words, ("start", "end", "confidence"))):
            for name in names:
                cached = columns.cached(name)
                if cached is not None:
                    assert cached.tolist() == getattr(columns, name), name
