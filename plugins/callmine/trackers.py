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
- All terms compile into one regex (a prefix trie, see ``_trie_regex``; on ASCII text it
  is tried only where a term's first words start, see ``TrackerSet._ascii_matches``).
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
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path

import numpy as np
import yaml

from callmine.transcript import Segments, Words

_SEPARATOR = r"[\s\-\u2010\u2011]+"  # whitespace, hyphen, Unicode (non-breaking) hyphen
_SPLIT_TERM = re.compile(_SEPARATOR)
_TOKEN = re.compile(r"\S*\w\S*")  # punctuation-only tokens ("-", ",") are not words
# Joins a call's segment texts for one scan: not a word character, not a separator, in no term, so
# no match crosses it and every text sees its ends as boundaries, as it would alone.
_JOIN = "\x00"
# ASCII characters as the regexes see them (built from ``re`` itself): \w, and \s (str.split's whitespace).
_ASCII_WORD = np.array([re.match(r"\w", chr(c)) is not None for c in range(128)] + [False] * 128)
_ASCII_SPACE = np.array([re.match(r"\s", chr(c)) is not None for c in range(128)] + [False] * 128)
_PREFIX_MAX = 4  # characters of a term's first word that pick the positions worth a regex match
_PAD = "\x00" * _PREFIX_MAX  # after a call's text: every run of word characters has _PREFIX_MAX after it
_RUN_MASK = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF], np.uint64)  # the run's characters of four
_SHIFT = np.uint64(32)  # the run's length goes above its characters
_PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)  # a first run's code times this, xor the next run's
_FOUND_MAX = 4096  # matched texts remembered with their trackers


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
    # Hashed run codes -> whether a term can start there (see _ascii_matches and _start_table).
    _prefixes: np.ndarray | None = field(init=False, repr=False, compare=False)
    # Matched text -> _targets_of(it), remembered: a call's hits repeat a few spellings.
    _found: dict[str, list[tuple[str, str]]] = field(init=False, repr=False, compare=False)

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
        # Where a match can start (see _ascii_matches); None: scan all of the text.
        self._prefixes = None
        if ascii_terms and all(_ASCII_WORD[ord(key[0])] for key in self._targets):
            self._prefixes = _start_table(self._targets)
        self._found = {}

    def find_hits(self, segments: Segments, words: Words) -> list[KeywordHit]:
        """All tracker hits in the call, in segment start order then text order."""
        hits = self._ascii_hits(segments, words)
        return self._general_hits(segments, words) if hits is None else hits

    def _ascii_hits(self, segments: Segments, words: Words) -> list[KeywordHit] | None:
        """``find_hits`` for ASCII text, scanned and located column-wise; None where it does not apply.

        The same hits as ``_general_hits``: the same regex matches (tried only where a term can
        start, see _ascii_matches), and the same word for each: the k-th word of its segment
        when the segment has as many words as tokens (``_TOKEN``: runs of non-space characters
        holding a word character) and the hit is in its k-th token. Tokens are counted on the
        runs of word characters: a run starts a new token unless only non-space characters
        separate it from the one before in its text.
        """
        texts = segments.text
        try:
            joined = _JOIN.join(texts)
        except TypeError:  # a None text
            texts = [text or "" for text in texts]
            joined = _JOIN.join(texts)
        if self._prefixes is None or not joined.isascii():
            return None
        seg_of_word = _segment_of_word(words)
        if seg_of_word is None:
            return None
        low = joined.lower()
        chars = np.frombuffer(f"{low}{_PAD}".encode("ascii"), np.uint8)  # padded: see _ascii_matches
        word_char = _ASCII_WORD.take(chars)
        edges = (word_char[1:] != word_char[:-1]).nonzero()[0] + 1  # runs of word characters: start, end, ...
        if word_char[0]:
            edges = np.concatenate(([0], edges))
        run_start, run_end = edges[0::2], edges[1::2]  # (the padding ends the last run)
        matches = self._ascii_matches(low, chars, run_start, run_end - run_start)
        if not matches:
            return []
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        bounds = np.zeros(len(texts), np.int64)  # where each text starts in ``joined``
        np.cumsum(lengths[:-1] + 1, out=bounds[1:])
        at = np.array([match.start() for match in matches])
        seg = np.searchsorted(bounds, at, "right") - 1
        space = _ASCII_SPACE.take(chars)
        space[bounds[1:] - 1] = True  # a joining NUL ends a token
        token = np.cumsum(_new_tokens(space, run_start, run_end)) - 1  # each run's token, counted in the call
        first_run = np.searchsorted(run_start, bounds[seg])
        last_run = np.searchsorted(run_start, bounds[seg] + lengths[seg]) - 1  # >= first_run: a hit is a run
        first_token = token[first_run]
        n_tokens = token[last_run] - first_token + 1
        rank = token[np.searchsorted(run_start, at)] - first_token
        if len(seg_of_word):
            order = np.argsort(seg_of_word, kind="stable")  # word_idx ascending within a segment
            sorted_seg = seg_of_word[order]
            first_word = np.searchsorted(sorted_seg, seg)
            n_words = np.searchsorted(sorted_seg, seg, "right") - first_word
            word = order[np.minimum(first_word + rank, len(order) - 1)]
            word_idx = np.where(n_words == n_tokens, word, -1).tolist()
        else:
            word_idx = [-1] * len(matches)
        seg_start, speaker, word_start = segments.start, segments.speaker, words.start
        columns: list[tuple[str, str, str, float, int, int | None]] = []
        for match, s, w in zip(matches, seg.tolist(), word_idx):
            start_s = seg_start[s] if w < 0 else word_start[w]
            if start_s is None:  # a word without a timing (the provider gave none): its segment's start
                start_s = seg_start[s]
            targets = self._found.get(matched := match.group())  # lowercased: _targets_of lowercases too
            if targets is None:
                if len(self._found) >= _FOUND_MAX:
                    self._found.clear()
                targets = self._found[matched] = self._targets_of(matched)
            for tracker, term in targets:
                columns.append((tracker, term, speaker[s], start_s, s, None if w < 0 else w))
        return _keyword_hits(columns)

    def _ascii_matches(self, low: str, chars: np.ndarray, run_start: np.ndarray,
                       run_length: np.ndarray) -> list[re.Match[str]]:
        """``_ascii_pattern.finditer(low)``, trying the regex only where a term can start.

        A match starts a run of word characters (the regex's (?<!\\w), every term starting with
        one), and that run is the term's leading word characters exactly (the next term
        character, a separator or (?!\\w) ends it); for a first word that only starts phrases,
        the next run is the second word's too (see _start_table). Codes are hashed: a
        collision only tries the regex in vain. Skipping positions inside a match keeps
        finditer's non-overlapping, leftmost order.
        """
        # Each run's first four characters, little-endian (``chars`` is padded), as _prefix_code.
        quads = np.ndarray((len(chars) - _PREFIX_MAX,), "<u4", chars, 0, (1,))[run_start].astype(np.uint64)
        length = run_length.astype(np.uint64)
        code = quads & _RUN_MASK.take(np.minimum(length, _PREFIX_MAX)) | np.minimum(length, 63) << _SHIFT
        pair = code * _PAIR_MIX
        pair[:-1] ^= code[1:]  # the last run has none after it
        table = self._prefixes
        can_start = table.take(_hashed(code)) | table.take(_hashed(pair))  # type: ignore[union-attr]
        matches: list[re.Match[str]] = []
        end = 0
        match = self._ascii_pattern.match  # type: ignore[union-attr]
        for position in run_start[can_start].tolist():
            if position >= end:
                found = match(low, position)  # (?<!\\w) still sees the character before
                if found is not None:
                    matches.append(found)
                    end = found.end()
        return matches

    def _general_hits(self, segments: Segments, words: Words) -> list[KeywordHit]:
        """``find_hits`` for any text: per-match word location (see the module docstring)."""
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
        """``(segment index, offset in its text, matched text)`` for every match, in order."""
        for seg, text in enumerate(texts):
            for match in self._pattern.finditer(text or ""):
                yield seg, match.start(), match.group()

    def _targets_of(self, matched: str) -> list[tuple[str, str]]:
        targets = self._targets.get(_normalize(matched))
        if targets is None:  # rare Unicode case folds where lower() differs: ask the regex
            targets = next(
                found
                for key, found in self._targets.items()
                if re.fullmatch(_term_regex(key), matched, re.IGNORECASE)
            )
        return targets


# libyaml's safe loader when PyYAML was built with it: about 10x faster on a tracker file,
# which every stage task reads; the same documents, the same safe types.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_trackers(path: str | PathLike[str]) -> TrackerSet:
    """Read and validate a tracker file; ValueError names the file (and tracker)."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or set(data) != {"trackers"}:
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected a mapping with the single key 'trackers', got {found}")
    if not isinstance(data["trackers"], dict):
        raise ValueError(f"{path}: 'trackers' must map tracker names to lists of terms")
    return TrackerSet(data["trackers"], source=str(path))


def _prefix_code(word: str) -> int:
    """The code _ascii_matches computes for a run of word characters: the run ``word`` starts with.

    Its first _PREFIX_MAX characters (little-endian bytes, 0 past the run) and above them its
    length (63 for any longer).
    """
    run = re.match(r"\w*", word).group()  # type: ignore[union-attr]
    code = sum(ord(char) << 8 * k for k, char in enumerate(run[:_PREFIX_MAX]))
    return code | min(len(run), 63) << int(_SHIFT)


def _start_table(keys: Iterable[str]) -> np.ndarray:
    """Hashed run codes where a term can start: its first run's, or the first two runs' together.

    A first word that is all word characters and only starts phrases whose second word starts
    with one is followed, in a match, by separators and then that second word's leading run:
    both runs must fit. Any other first word: its leading run alone.
    """
    by_first: dict[str, list[list[str]]] = defaultdict(list)
    for key in keys:
        words = key.split(" ")
        by_first[words[0]].append(words)
    codes = []
    for first, phrases in by_first.items():
        if re.fullmatch(r"\w+", first) and all(len(words) > 1 and re.match(r"\w", words[1]) for words in phrases):
            mixed = _prefix_code(first) * int(_PAIR_MIX) % 2**64  # as numpy's uint64 wraps
            codes += [mixed ^ _prefix_code(words[1]) for words in phrases]
        else:
            codes.append(_prefix_code(first))
    table = np.zeros(1 << 16, bool)
    table[_hashed(np.array(codes, np.uint64))] = True
    return table


# KeywordHit's fields in __init__'s order, each set through its slot (as the frozen __init__ does).
_HIT_SLOTS = tuple(getattr(KeywordHit, hit_field.name).__set__ for hit_field in fields(KeywordHit))


def _keyword_hits(rows: list[tuple[str, str, str, float, int, int | None]]) -> list[KeywordHit]:
    """``[KeywordHit(*row) for row in rows]``, column by column: a third of the per-hit cost."""
    hits = list(map(object.__new__, repeat(KeywordHit, len(rows))))
    for set_slot, column in zip(_HIT_SLOTS, zip(*rows)):
        deque(map(set_slot, hits, column), maxlen=0)
    return hits


def _segment_of_word(words: Words) -> np.ndarray | None:
    """``words.segment_idx`` as int64: the transcript's own copy when it has one; None if not all ints."""
    cached = getattr(words, "cached", None)  # build_transcript records a copy, where there is one
    known = cached("segment_idx") if cached is not None else None
    if known is not None and known.dtype == np.int64:
        return known
    try:  # array("q"): exact ints only (a float, a None or a huge int raises)
        return np.frombuffer(array("q", words.segment_idx), np.int64)
    except (TypeError, OverflowError):
        return None


def _hashed(codes: np.ndarray) -> np.ndarray:
    """uint64 codes -> 16-bit hashes (Fibonacci hashing: the top bits of code * 2**64 / phi)."""
    return (codes * _PAIR_MIX) >> np.uint64(48)


def _new_tokens(space: np.ndarray, run_start: np.ndarray, run_end: np.ndarray) -> np.ndarray:
    """Whether each run of word characters starts a token: a space between it and the run before.

    Usually the character just before decides; else the characters back to the run before.
    """
    new = space[run_start - 1]  # the first run: no run before it, a token of its own (below)
    rest = (~new).nonzero()[0]
    rest = rest[rest > 0]
    new[0] = True
    position, stop = run_start[rest] - 2, run_end[rest - 1]
    while len(rest):
        live = position >= stop
        rest, position, stop = rest[live], position[live], stop[live]
        is_space = space[position]
        new[rest[is_space]] = True
        rest, position, stop = rest[~is_space], position[~is_space] - 1, stop[~is_space]
    return new


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
