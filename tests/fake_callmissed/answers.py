"""The fake's answers: a two-speaker transcript and analysis texts in several shapes.

The documented example is ``"Customer Sentiment: Neutral\\nResolution: Resolved\\n..."``;
an LLM writes that text, so real answers vary: the variants below are what a client
must survive (bullets, bold, odd case and spacing, missing lines, lists in every shape).
"""

from __future__ import annotations

import io
import wave

TRANSCRIPT = (
    "SPEAKER_1: Thank you for calling Acme support, how can I help you today?\n"
    "SPEAKER_2: Hi, I was charged twice for my order this month.\n"
    "SPEAKER_1: I am sorry about that. Let me check your account.\n"
    "SPEAKER_2: Sure, the order number is four two seven.\n"
    "SPEAKER_1: I see the duplicate charge. I will refund it today.\n"
    "SPEAKER_2: Great, thank you."
)
SUMMARY = "Duplicate charge reported; agent confirmed it and issued a refund."

ANALYSIS_VARIANTS: dict[str, str] = {
    # The nine dimensions, one "Name: value" line each, as in the docs.
    "documented": (
        "Customer Sentiment: Neutral\n"
        "Intent: Billing dispute about a duplicate charge\n"
        "Resolution: Resolved\n"
        "Agent Performance: Good\n"
        "Escalation Risk: Low\n"
        "Key Topics: billing, duplicate charge, refund\n"
        "Action Items: Refund the duplicate charge; Email the customer a confirmation\n"
        "Compliance: Compliant\n"
        "Satisfaction Score: 8"
    ),
    # Markdown an LLM likes: bullets, bold names, numbered headings, lists on their own lines.
    "markdown": (
        "## Call Analysis\n"
        "- **Sentiment:**   NEGATIVE (customer frustrated by the double charge)\n"
        "- **Customer Intent**: Get a refund\n"
        "* **Resolution Status:** partially resolved - refund pending\n"
        "• Agent performance :  Empathetic, followed the script\n"
        "1. Escalation Risk: High risk\n"
        "2. Key Topics:\n"
        "   - Billing\n"
        "   - Refund request\n"
        "3. Action Items:\n"
        "   - Process refund within 3 days\n"
        "   - Call the customer back on Friday\n"
        "Compliance: Agent verified identity before discussing the account\n"
        "Customer Satisfaction Score: 4/10"
    ),
    # Lines missing, values the client cannot type: those must stay unknown.
    "sparse": (
        "sentiment: mixed\n"
        "resolution: unclear\n"
        "escalation risk: n/a\n"
        "key topics: shipping; returns\n"
        "satisfaction score: not enough information"
    ),
    # Nothing structured at all.
    "prose": "The caller asked about an order. The agent answered politely.",
}


def speaker_timing_for(content: bytes, transcript: str) -> dict[str, float]:
    """Talk seconds per speaker: WAV duration split by each speaker's share of the words."""
    seconds = _wav_seconds(content) or 84.0
    words: dict[str, int] = {}
    for line in transcript.splitlines():
        label, sep, text = line.partition(":")
        if sep and label.strip().upper().startswith("SPEAKER"):
            words[label.strip()] = words.get(label.strip(), 0) + len(text.split())
    total = sum(words.values()) or 1
    return {label: round(seconds * 0.9 * n / total, 1) for label, n in words.items()}


def _wav_seconds(content: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(content)) as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def answer_question(transcript: str, question: str) -> str:
    """A deterministic "LLM": quotes the first transcript line sharing a word with the question."""
    asked = {w.strip("?.,!").lower() for w in question.split() if len(w) > 3}
    for line in transcript.splitlines():
        if asked & {w.strip("?.,!").lower() for w in line.split()}:
            return f"Yes. The transcript says: {line.strip()}"
    return "The transcript does not say."
