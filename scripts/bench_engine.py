"""Benchmark the embedded engine's transcription core against raw faster-whisper.

Usage: .venv/bin/python scripts/bench_engine.py [--models tiny.en base] [--repeat 1]

For each model and each shipped sample call it prints the real-time factor
(audio seconds / wall seconds) of ``transcribe_file`` and, in the same run, of raw
``WhisperModel.transcribe`` with the same decode settings doing the same job (each
channel on its own for stereo; the mix for mono; generator consumed), plus raw on the
stereo calls' mono mix for reference, and peak RSS. Mono calls run with diarize=True when
``include.engine.speech.diarization`` is importable. Run on the engine's CPU
budget (2 cores, CALLMINE_ENGINE_CPU_THREADS=2 by default).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from include.engine.speech.audio import SAMPLE_RATE, load_audio, to_mono  # noqa: E402
from include.engine.speech.engine import JobOptions, get_transcriber, transcribe_file  # noqa: E402

CALLS = ROOT / "include" / "samples" / "calls"
TARGET_TINY_STEREO_RTF = 20.0
TARGET_VS_RAW = 1.15
TARGET_DIARIZATION_OVERHEAD = 0.25
TARGET_PEAK_MB = 1536


@dataclass
class Timing:
    audio_s: float
    wall_s: float

    @property
    def rtf(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else float("inf")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def diarization_available() -> bool:
    try:
        from include.engine.speech.diarization import diarize  # noqa: F401
    except ImportError:
        return False
    return True


def time_engine(wav: Path, options: JobOptions, repeat: int) -> Timing:
    best = float("inf")
    audio_s = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        result = transcribe_file(str(wav), options)
        best = min(best, time.perf_counter() - start)
        audio_s = result.document["audio_seconds"]
    return Timing(audio_s, best)


def time_raw(wav: Path, model: str, repeat: int, per_channel: bool) -> Timing:
    """Raw faster-whisper doing the same job: each channel on its own (stereo), or the mix."""
    transcriber = get_transcriber(model)
    best = float("inf")
    samples = None
    for _ in range(repeat):
        start = time.perf_counter()  # decoding the file is part of the work, as in the engine
        samples = load_audio(wav)
        tracks = list(samples) if per_channel else [to_mono(samples)]
        for track in tracks:
            segments, _info = transcriber.model.transcribe(track, **transcriber.transcribe_kwargs("en"))
            for _segment in segments:  # the generator does the decoding
                pass
        best = min(best, time.perf_counter() - start)
    assert samples is not None
    return Timing(samples.shape[-1] / SAMPLE_RATE, best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration; the best is kept")
    args = parser.parse_args()

    diarize = diarization_available()
    print(f"cpus: {os.cpu_count()}  threads: {os.environ.get('CALLMINE_ENGINE_CPU_THREADS', '2')}")
    print("diarization: " + ("available" if diarize else "not available"))
    print(
        f"targets: tiny.en stereo >= {TARGET_TINY_STEREO_RTF:.0f}x real time; engine within "
        f"{TARGET_VS_RAW}x of raw faster-whisper; mono diarization adds <= {TARGET_DIARIZATION_OVERHEAD:.0%}; "
        f"peak RSS <= {TARGET_PEAK_MB} MB"
    )
    header = f"{'model':8} {'call':38} {'mode':8} {'engine':>8} {'raw':>8} {'ratio':>6} {'raw mix':>8} {'peakMB':>7}  verdict"
    print(header)
    print("-" * len(header))
    calls = sorted(CALLS.glob("*_stereo.wav")) + sorted(CALLS.glob("*_mono.wav"))
    for model in args.models:
        load_start = time.perf_counter()
        get_transcriber(model)
        print(f"{model}: model loaded in {time.perf_counter() - load_start:.1f} s, RSS {peak_rss_mb():.0f} MB")
        for wav in calls:
            stereo = wav.stem.endswith("_stereo")
            raw = time_raw(wav, model, args.repeat, per_channel=stereo)
            mix = time_raw(wav, model, args.repeat, per_channel=False) if stereo else raw
            # Same language as raw: without one, the multilingual base model first detects it.
            plain = time_engine(wav, JobOptions(channel=stereo, model=model, language="en"), args.repeat)
            ratio = raw.rtf / plain.rtf  # >1: the engine is slower than raw
            verdicts = [f"vs raw {'ok' if ratio <= TARGET_VS_RAW else 'MISS'}"]
            if stereo and model == "tiny.en":
                verdicts.append(f"rtf {'ok' if plain.rtf >= TARGET_TINY_STEREO_RTF else 'MISS'}")
            mb = peak_rss_mb()
            verdicts.append(f"mem {'ok' if mb <= TARGET_PEAK_MB else 'MISS'}")
            mode = "channel" if stereo else "plain"
            print(f"{model:8} {wav.stem:38} {mode:8} {plain.rtf:7.1f}x {raw.rtf:7.1f}x {ratio:6.2f} {mix.rtf:7.1f}x {mb:7.0f}  {', '.join(verdicts)}")
            if not stereo and diarize:
                diarized = time_engine(wav, JobOptions(diarize=True, model=model, language="en"), args.repeat)
                overhead = plain.wall_s and diarized.wall_s / plain.wall_s - 1
                mb = peak_rss_mb()
                print(
                    f"{model:8} {wav.stem:38} {'diarize':8} {diarized.rtf:7.1f}x {'':>8} {'':>6} {'':>8} {mb:7.0f}  "
                    f"diarization +{overhead:.0%} {'ok' if overhead <= TARGET_DIARIZATION_OVERHEAD else 'MISS'}, "
                    f"mem {'ok' if mb <= TARGET_PEAK_MB else 'MISS'}"
                )
    print("(rtf = audio seconds / wall seconds, best of --repeat; raw = faster-whisper doing the same job (stereo: each"
          " channel on its own); ratio = engine time / raw time; raw mix = faster-whisper on the mono mix, for reference;"
          " peak RSS is per process, cumulative)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
