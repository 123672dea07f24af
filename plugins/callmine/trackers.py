"""Keyword trackers: named lists of terms, found in transcript segments.

Tracker file (YAML)::

    trackers:
      pricing: [price, pricing, "price increase", quote]
      refund: [refund, "money back", chargeback]

``trackers`` is the only top-level key; each tracker maps to a non-empty list of
strings containing a letter or digit (quote terms YAML would read as numbers
or booleans). Terms repeated within a tracker (ignoring case) are dropped.

Matching rules:

- Case-insensitive, whole words only: a term must not touch a word character
  on either side, so "price" does not match "priceless" or "caprice" but does
  match "Price?", "price," and "competitor's" matches "competitor". Plurals are
  not implied: list "prices" if you want it.
- Words of a phrase match across any run of whitespace and hyphens: "price
  increase" matches "price  increase", "Price-increase" and a line break
  between the words, but not "price, increase" (a comma or full stop usually
  separates clauses, not a phrase). In the file, "auto-renew" and "auto renew"
  are therefore the same term.
- All terms compile into one regex (a prefix trie, see ``_trie_regex``).
  Occurrences do not overlap; where terms start at one position the longest
  wins ("price increase" over "price"). Each occurrence is one hit per tracker
  listing the term (a term may sit in several trackers).

Hit timing: ``start_s`` is the start of the first matched word when the
segment's words can be aligned with its text, i.e. when the segment has as many
words as whitespace-separated tokens containing a word character (a token's
k-th position maps to the segment's k-th word by start time); otherwise it is
the segment start and ``word_idx`` is None.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import yaml

from callmine.transcript import Segments, Words

_SEPARATOR = r"[\s\-\u2010\u2011]+"  # whitespace, hyphen, Unicode (non-breaking) hyphen
_SPLIT_TERM = re.compile(_SEPARATOR)
_TOKEN = re.compile(r"\S*\w\S*")  # punctuation-only tokens ("-", ",") are not words
_JOIN = "\x00"  # joins a call's segment texts for one regex scan (see TrackerSet._matches)


@dataclass(slots=True, frozen=True)
class KeywordHit:
    tracker: str
    term: str  # the term as written in the tracker file
    speaker: str
    start_s: float
    segment_idx: int
    word_idx: int | None = None


@dataclass(slots=True)
class TrackerSet:
    """Validated trackers compiled into one regex.

    ``TrackerSet({"pricing": ["price"]}, source="config")`` raises ValueError
    naming ``source`` and the tracker when a term list is bad.
    """

    trackers: Mapping[str, Sequence[str]]  # stored validated: dict of tuples
    source: str = "<trackers>"
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    # The same regex without IGNORECASE, for lowercased ASCII text (None if a term is not ASCII).
    _ascii_pattern: re.Pattern[str] | None = field(init=False, repr=False)
    # Normalized term -> (tracker, term as written) for every tracker listing it.
    _targets: dict[str, list[tuple[str, str]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.trackers = _validated(self.trackers, self.source)
        targets: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for tracker, terms in self.trackers.items():
            for term in terms:
                targets[_normalize(term)].append((tracker, term))
        self._targets = dict(targets)
        # Boundaries sit outside the terms: if "price increase" fails the right
        # boundary (in "price increased") the engine backtracks to "price".
        body = rf"(?<!\w)(?:{_trie_regex(self._targets)})(?!\w)"
        self._pattern = re.compile(body, re.IGNORECASE)
        # On ASCII text, IGNORECASE matching is plain matching of the lowercased text (same
        # length, same offsets, same \w) when every term is ASCII: lowercase already, and no
        # non-ASCII pattern letter to fold onto ASCII ones (like "ſ" onto "s"). Twice as fast.
        ascii_terms = all(key.isascii() and _JOIN not in key for key in self._targets)
        self._ascii_pattern = re.compile(body) if ascii_terms else None

    def find_hits(self, segments: Segments, words: Words) -> list[KeywordHit]:
        """All tracker hits in the call, in segment start order then text order."""
        hits: list[KeywordHit] = []
        words_by_segment: Callable[[int], list[int]] | None = None  # built on first hit only
        located_seg = -1
        locate: Callable[[int], int | None] | None = None
        for seg, offset, matched in self._matches(segments.text):  # segments are in time order already
            if seg != located_seg:
                if words_by_segment is None:
                    words_by_segment = _words_by_segment(words)
                located_seg = seg
                locate = _word_locator(segments.text[seg], words_by_segment(seg), words)
            word_idx = locate(offset)  # type: ignore[misc]
            start_s = segments.start[seg] if word_idx is None else words.start[word_idx]
            if start_s is None:  # a word without a timing (the provider gave none): its segment's start
                start_s = segments.start[seg]
            for tracker, term in self._targets_of(matched):
                hits.append(
                    KeywordHit(tracker, term, segments.speaker[seg], start_s, seg, word_idx)
                )
        return hits

    def _matches(self, texts: Sequence[str | None]) -> Iterator[tuple[int, int, str]]:
        """``(segment index, offset in its text, matched text)`` for every match, in order.

        One scan of the whole call where it can be exact: the texts joined by NUL (not a
        word character, not a separator, in no term, so no match crosses it and every text
        sees its ends as boundaries, as it would alone; a NUL inside a text acts the same in
        both scans), lowercased when ASCII. Otherwise text by text.
        """
        joined = _JOIN.join([text or "" for text in texts])
        pattern = self._ascii_pattern
        if pattern is None or not joined.isascii():
            for seg, text in enumerate(texts):
                for match in self._pattern.finditer(text or ""):
                    yield seg, match.start(), match.group()
            return
        bounds: list[int] = []  # where each text starts in ``joined``
        at = 0
        for text in texts:
            bounds.append(at)
            at += len(text or "") + 1
        for match in pattern.finditer(joined.lower()):
            start, end = match.span()
            seg = bisect_right(bounds, start) - 1
            yield seg, start - bounds[seg], joined[start:end]

    def _targets_of(self, matched: str) -> list[tuple[str, str]]:
        targets = self._targets.get(_normalize(matched))
        if targets is None:  # rare Unicode case folds where lower() differs: ask the regex
            targets = next(
                found
                for key, found in self._targets.items()
                if re.fullmatch(_term_regex(key), matched, re.IGNORECASE)
            )
        return targets


def load_trackers(path: str | PathLike[str]) -> TrackerSet:
    """Read and validate a tracker file; ValueError names the file (and tracker)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or set(data) != {"trackers"}:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected a mapping with the single key 'trackers', got {found}")
    if not isinstance(data["trackers"], dict):
        raise ValueError(f"{path}: 'trackers' must map tracker names to lists of terms")
    return TrackerSet(data["trackers"], source=str(path))


def _normalize(term: str) -> str:
    """Case- and separator-insensitive identity of a term: "Auto-Renew" -> "auto renew"."""
    return " ".join(word for word in _SPLIT_TERM.split(term.lower()) if word)


def _term_regex(key: str) -> str:
    return _SEPARATOR.join(re.escape(word) for word in key.split(" "))


def _trie_regex(keys: Iterable[str]) -> str:
    """One regex for all normalized terms, factored by shared prefix.

    Python's re tries alternatives one by one (a flat alternation of ~80 terms
    is ~10x slower). Trying a node's continuations before ending there keeps
    "longest term first" semantics: siblings differ in their next character,
    so only continuing-vs-stopping is ever a choice.
    """
    trie: dict[str, dict] = {}
    for key in keys:
        node = trie
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a term

    def build(node: dict[str, dict]) -> str:
        branches = [
            (_SEPARATOR if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")

    return build(trie)


def _validated(trackers: Mapping[str, Sequence[str]], source: str) -> dict[str, tuple[str, ...]]:
    if not trackers:
        raise ValueError(f"{source}: no trackers defined")
    result: dict[str, tuple[str, ...]] = {}
    for name, terms in trackers.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{source}: tracker names must be non-empty strings, got {name!r}")
        where = f"{source}: tracker {name!r}"
        if isinstance(terms, str) or not isinstance(terms, Sequence) or not terms:
            raise ValueError(f"{where}: terms must be a non-empty list of strings, got {terms!r}")
        seen: dict[str, str] = {}
        for term in terms:
            if not isinstance(term, str):
                raise ValueError(f"{where}: term {term!r} is not a string (quote it in YAML)")
            if not re.search(r"\w", term):
                raise ValueError(f"{where}: term {term!r} has no letters or digits")
            seen.setdefault(_normalize(term), term)  # drop same-term duplicates
        result[name] = tuple(seen.values())
    return result


def _words_by_segment(words: Words) -> Callable[[int], list[int]]:
    """segment_idx -> its word_idx values, ascending."""
    try:
        seg_of_word = np.asarray(words.segment_idx)
    except (TypeError, ValueError, OverflowError):
        seg_of_word = None
    if seg_of_word is None or seg_of_word.ndim != 1 or (len(seg_of_word) and seg_of_word.dtype.kind != "i"):
        grouped: dict[int, list[int]] = defaultdict(list)  # not plain ints: group them one by one
        for word_idx, seg in enumerate(words.segment_idx):
            grouped[seg].append(word_idx)
        return lambda seg: grouped.get(seg, [])
    order = np.argsort(seg_of_word, kind="stable")  # stable: word_idx ascending within a segment
    word_ids = order.tolist()
    segs = seg_of_word[order].tolist()

    def of_segment(seg: int) -> list[int]:
        return word_ids[bisect_left(segs, seg):bisect_right(segs, seg)]

    return of_segment


def _word_locator(text: str, word_ids: list[int], words: Words) -> Callable[[int], int | None]:
    """Character offset in ``text`` -> word_idx of the token there, or None."""
    token_starts = [token.start() for token in _TOKEN.finditer(text)]
    if not word_ids or len(token_starts) != len(word_ids):
        return lambda offset: None  # can't align tokens to words: fall back to segment
    return lambda offset: word_ids[max(0, bisect_right(token_starts, offset) - 1)]  # words are in time order
