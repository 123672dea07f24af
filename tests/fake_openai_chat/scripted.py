"""The fake's "model": a JSON answer built from the schema it was given and the transcript it sees.

Nothing here knows callmine's schema. The schema comes from ``response_format``
(json_schema mode) or from the first JSON-schema-looking object in the messages
(prompt mode); values are filled by property name from the transcript lines
``[12.3s-15.0s] speaker: text`` (optionally prefixed ``#7`` with a segment index),
so answers are grounded: summaries quote the first lines, phases use the times seen.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

_LINE = re.compile(r"^(?:#(\d+)\s+)?\[(\d+(?:\.\d+)?)s-(\d+(?:\.\d+)?)s\]\s+([^:\n]{1,80}):\s?(.*)$")
_QUESTION = re.compile(r"^Question:\s*(.+)$", re.MULTILINE)
_WORD = re.compile(r"[a-z][a-z']+")
_ACTION = re.compile(r"\b(i'll|i will|we'll|we will|will send|follow up|call you back|let me)\b", re.I)
_NEGATIVE = ("angry", "frustrat", "terrible", "unacceptable", "annoy", "awful", "cancel", "wrong", "broken")
_POSITIVE = ("thank", "great", "perfect", "appreciate", "wonderful", "helpful", "glad")
_STOP = frozenset(
    "the a an and or but to of in on at for with is are was were be been it this that i you we they he she "
    "my your our me us can could would will just so do did have has had not no yes okay ok please there "
    "what when how why who about from as by if then than hello thanks thank bye".split()
)


@dataclass(frozen=True, slots=True)
class Line:
    idx: int | None
    start: float
    end: float
    speaker: str
    text: str


def find_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    decoder = json.JSONDecoder()
    for message in body.get("messages") or []:
        text = _content(message)
        for start in (m.start() for m in re.finditer(r"\{", text)):
            try:
                obj, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("type") == "object" and "properties" in obj:
                return obj
    return None


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def parse_lines(body: dict[str, Any]) -> tuple[list[Line], str]:
    """Transcript lines of the first user message that has any, and the question if asked."""
    lines: list[Line] = []
    question = ""
    for message in body.get("messages") or []:
        if message.get("role") != "user":
            continue
        text = _content(message)
        if not lines:
            for raw in text.splitlines():
                m = _LINE.match(raw.strip())
                if m:
                    idx = int(m.group(1)) if m.group(1) else None
                    lines.append(Line(idx, float(m.group(2)), float(m.group(3)), m.group(4).strip(), m.group(5).strip()))
        if not question and (q := _QUESTION.search(text)):
            question = q.group(1).strip()
    return lines, question


def answer(body: dict[str, Any]) -> str:
    schema = find_schema(body)
    lines, question = parse_lines(body)
    if schema is None:
        return "I read the call. " + (lines[0].text if lines else "There is no transcript.")
    return json.dumps(_Filler(schema, lines, question).value(schema, "", None), ensure_ascii=False)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


class _Filler:
    def __init__(self, root: dict[str, Any], lines: list[Line], question: str) -> None:
        self.root = root
        self.lines = lines
        self.question = question
        text = " ".join(line.text.lower() for line in lines)
        score = sum(text.count(w) for w in _POSITIVE) - sum(text.count(w) for w in _NEGATIVE)
        self.mood = "positive" if score > 0 else "negative" if score < 0 else "neutral"

    # -- schema plumbing ------------------------------------------------------------
    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            return self.resolve(node)
        if "anyOf" in schema:  # pick the first non-null branch
            branches = [self.resolve(b) for b in schema["anyOf"]]
            return next((b for b in branches if b.get("type") != "null"), branches[0])
        return schema

    def value(self, schema: dict[str, Any], name: str, focus: dict[str, Any] | None) -> Any:
        schema = self.resolve(schema)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if focus and name in focus:
            return focus[name]
        if "enum" in schema:
            return self.enum(name, [v for v in schema["enum"] if v is not None])
        if kind == "object":
            props = schema.get("properties") or {}
            return {key: self.value(sub, key, focus) for key, sub in props.items()}
        if kind == "array":
            return self.array(name, self.resolve(schema.get("items") or {}))
        if kind in ("number", "integer"):
            return self.number(name, schema, kind)
        if kind == "boolean":
            return False
        if kind == "string":
            return self.string(name)
        return None

    # -- values by property name ---------------------------------------------------------
    def array(self, name: str, items: dict[str, Any]) -> list[Any]:
        props = items.get("properties") or {}
        if "start_s" in props and "name" in props and "enum" in self.resolve(props["name"]):
            names = [n for n in self.resolve(props["name"])["enum"] if n not in (None, "Other")]
            return [self.value(items, "", focus) for focus in self.phases(names)]
        if "start_s" in props or "text" in props:
            hits = [line for line in self.lines if _ACTION.search(line.text)][:5]
            return [self.value(items, "", {"text": h.text, "speaker": h.speaker, "start_s": h.start}) for h in hits]
        if items.get("type") == "integer" or "segment" in name:
            return [line.idx for line in self.matching()[:3] if line.idx is not None]
        if items.get("type") == "string":
            counts = Counter(w for line in self.lines for w in _words(line.text) if len(w) > 3)
            return [w for w, _ in counts.most_common(3)]
        return []

    def phases(self, names: list[str]) -> list[dict[str, Any]]:
        if not self.lines or not names:
            return []
        n = min(len(names), len(self.lines))
        # Share of lines per phase: short opening and closing, long middle.
        weights = [1, 3, 3, 1][:n] if n == len(names) == 4 else [1] * n
        bounds, total, acc, count = [0], sum(weights), 0, len(self.lines)
        for i, w in enumerate(weights[:-1]):  # every phase gets at least one line
            acc += w
            bounds.append(min(max(bounds[-1] + 1, round(acc * count / total)), count - (n - 1 - i)))
        bounds.append(count)
        groups = [self.lines[bounds[i] : bounds[i + 1]] for i in range(n)]
        out = []
        for i, group in enumerate(groups):
            # Like a careful model: each phase runs until the next one starts.
            end = groups[i + 1][0].start if i + 1 < len(groups) else group[-1].end
            out.append({"name": names[i], "start_s": group[0].start, "end_s": end, "summary": group[0].text[:120]})
        return out

    def matching(self) -> list[Line]:
        wanted = set(_words(self.question))
        scored = [(len(wanted & set(_words(line.text))), line) for line in self.lines]
        return [line for score, line in sorted(scored, key=lambda s: (-s[0], s[1].start)) if score > 0]

    def enum(self, name: str, options: list[Any]) -> Any:
        wanted = {
            "sentiment": self.mood,
            "resolution": "unresolved" if self.mood == "negative" else "resolved",
            "escalation_risk": "high" if self.mood == "negative" else "low",
        }.get(name)
        return wanted if wanted in options else (options[0] if options else None)

    def number(self, name: str, schema: dict[str, Any], kind: str) -> float | int:
        sign = {"positive": 1, "neutral": 0, "negative": -1}[self.mood]
        if "sentiment" in name:
            value: float = 0.6 * sign
        elif "satisfaction" in name:
            value = 6 + 2 * sign
        elif name == "start_s":
            value = self.lines[0].start if self.lines else 0.0
        elif name == "end_s":
            value = self.lines[-1].end if self.lines else 0.0
        else:
            value = schema.get("minimum", 0)
        return int(round(value)) if kind == "integer" else value

    def string(self, name: str) -> str:
        if not self.lines:
            return ""
        if name == "answer":
            hits = self.matching()
            return f"{hits[0].speaker} said: {hits[0].text}" if hits else "The call does not say."
        if name == "summary":
            return " ".join(f"{line.speaker} said: {line.text.rstrip('.')}." for line in self.lines[:3])
        if name == "speaker":
            return self.lines[0].speaker
        return f"{name.replace('_', ' ')}: {self.lines[min(1, len(self.lines) - 1)].text[:80]}"
