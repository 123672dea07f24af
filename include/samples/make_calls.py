#!/usr/bin/env python3
"""Synthesize callmine's sample two-party calls and their ground truth.

Reads the dialogue scripts in ``dialogues.json`` (next to this file), speaks every
turn with espeak-ng (agent and customer get different voices), resamples it with sox
to the target rate, trims the synthesizer's leading/trailing silence, and lays the
turns out on a timeline with natural pauses (and the interruptions the scripts ask
for). Writes into ``calls/``:

* ``<name>.wav``        16-bit PCM; "stereo" calls put the agent on channel 0 and the
                        customer on channel 1, "mono" calls mix both voices.
* ``<name>.truth.json`` the exact turn boundaries (in seconds, on the sample grid),
                        speaker, channel and text of every turn.

The output is deterministic: same inputs and tool versions give byte-identical files
(fixed seeds, no dither, quantization done here with numpy).

Usage: python include/samples/make_calls.py [--only NAME] [--out DIR]
Needs espeak-ng and sox on PATH (scripts/install_system_packages.sh installs them).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DIALOGUES = HERE / "dialogues.json"
OUT_DIR = HERE / "calls"

# A sample louder than this fraction of the clip's peak counts as speech when trimming
# the synthesizer's silence (-40 dB: well under the quietest fricative onset).
TRIM_REL_THRESHOLD = 10 ** (-40 / 20)
SPEAKER_LABELS = {"agent": 0, "customer": 1}


def _require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"missing {', '.join(missing)}: run scripts/install_system_packages.sh "
            "(or apt-get install espeak-ng sox)"
        )


def synthesize(text: str, voice: dict, rate: int, workdir: Path) -> np.ndarray:
    """One utterance as float64 samples in [-1, 1] at ``rate``, silence trimmed, peak = voice gain."""
    raw_wav = workdir / "utterance.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-v", voice["voice"],
            "-s", str(voice["speed"]),
            "-p", str(voice["pitch"]),
            "-w", str(raw_wav),
            "--stdin",
        ],
        input=text.encode("utf-8"),
        check=True,
    )
    # sox: resample (very high quality) and hand over 32-bit float, so no dither and no
    # quantization happen outside this script; -D makes "no dither" explicit anyway.
    converted = subprocess.run(
        [
            "sox", "-D", "-V1", str(raw_wav),
            "-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-c", "1", "-",
            "highpass", "80",
            "rate", "-v", str(rate),
        ],
        check=True,
        capture_output=True,
    ).stdout
    samples = np.frombuffer(converted, dtype="<f4").astype(np.float64)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak == 0.0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    voiced = np.flatnonzero(np.abs(samples) >= peak * TRIM_REL_THRESHOLD)
    trimmed = samples[voiced[0] : voiced[-1] + 1]
    return trimmed / peak * float(voice["gain"])


def build_call(call: dict, config: dict, workdir: Path) -> tuple[np.ndarray, dict]:
    rate = int(config["sample_rate"])
    stereo = call["layout"] == "stereo"
    if call["layout"] not in ("stereo", "mono"):
        raise ValueError(f"{call['name']}: layout must be stereo or mono")
    rng = random.Random(call["seed"])
    low, high = config["pause_s"]

    placed = []  # (speaker, start_sample, clip, text)
    cursor = round(config["lead_in_s"] * rate)  # end of the speech laid out so far
    for index, turn in enumerate(call["turns"]):
        clip = synthesize(turn["text"], config["voices"][turn["speaker"]], rate, workdir)
        if index == 0:
            start = cursor
        elif "overlap_s" in turn:  # an interruption: starts before the previous turn ends
            start = cursor - round(turn["overlap_s"] * rate)
        else:
            start = cursor + round(rng.uniform(low, high) * rate)
        placed.append((turn["speaker"], start, clip, turn["text"]))
        cursor = max(cursor, start + clip.size)

    total = cursor + round(config["tail_s"] * rate)
    channels = 2 if stereo else 1
    mix = np.zeros((total, channels))
    for speaker, start, clip, _ in placed:
        column = SPEAKER_LABELS[speaker] if stereo else 0
        mix[start : start + clip.size, column] += clip

    # Faint line noise so silence is not digital zero (seeded: deterministic).
    noise = np.random.default_rng(call["seed"]).standard_normal((total, channels))
    mix += noise * 10 ** (config["noise_dbfs"] / 20)
    pcm = np.clip(np.round(mix * 32767.0), -32768, 32767).astype("<i2")

    turns = [
        {
            "speaker": speaker,
            "channel": SPEAKER_LABELS[speaker] if stereo else None,
            "start": round(start / rate, 6),
            "end": round((start + clip.size) / rate, 6),
            "text": text,
        }
        for speaker, start, clip, text in sorted(placed, key=lambda p: p[1])
    ]
    truth = {
        "audio": f"{call['name']}.wav",
        "channels": channels,
        "sample_rate": rate,
        "duration_s": round(total / rate, 6),
        "call_date": call["name"][:10],
        "scenario": call["scenario"],
        "speakers": (
            {"agent": "ch0", "customer": "ch1"} if stereo else {"agent": "speaker_0", "customer": "speaker_1"}
        ),
        "voices": {role: dict(config["voices"][role]) for role in ("agent", "customer")},
        "turns": turns,
        "text": " ".join(t["text"] for t in turns),
    }
    return pcm, truth


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="generate only this call name (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args(argv)
    _require_tools()

    config = json.loads(DIALOGUES.read_text(encoding="utf-8"))
    calls = [c for c in config["calls"] if not args.only or c["name"] in args.only]
    if args.only and len(calls) != len(set(args.only)):
        parser.error(f"unknown call name in {args.only}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="callmine-samples-") as tmp:
        for call in calls:
            pcm, truth = build_call(call, config, Path(tmp))
            wav_path = args.out / truth["audio"]
            write_wav(wav_path, pcm, truth["sample_rate"])
            truth_path = args.out / f"{call['name']}.truth.json"
            truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            print(
                f"{wav_path.name}: {truth['channels']} ch, {truth['duration_s']:.2f} s, "
                f"{len(truth['turns'])} turns, {wav_path.stat().st_size / 1e6:.2f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
