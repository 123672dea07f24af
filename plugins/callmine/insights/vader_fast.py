"""VADER 3.3.2's ``polarity_scores(text)["compound"]`` re-stated for ASCII text, one text or many.

Exact: the same values from the same float operations in the same order, without the library's
per-word overheads (re-lowercasing the sentence for every lexicon word it scores, the
per-character emoji loop, the ``pos``/``neu``/``neg`` ratios we do not use). ``one(text)``
scores one text; ``many(texts)`` a call's texts at once, about 3x cheaper a text: one split of
the texts joined by a NUL token, one dict look-up a token (a memo of each distinct token's
facts, see ``fast_vader``), then numpy. Most lexicon words keep their lexicon valence; only
those a rule can reach go through ``valence``, and the sums, "but" and ``!``/``?`` emphasis
follow the library's own order of operations.

``tests/unit/insights/test_sentiment_fast_path.py`` and ``test_sentiment_batch.py`` compare
both with the library on many texts.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import itemgetter

import numpy as np

_WORD_CACHE_MAX = 1 << 17  # distinct tokens remembered per process (a few MB at most)
_RULED_MAX = _SUMS_MAX = 1 << 16  # ``valence`` results / compounds of sums remembered
_ROWS_MAX = 0x10FFFF  # _Tokens names a row by chr(row)
_MARK = "\x00"  # the token joining a call's texts in ``many``: not whitespace, in no lexicon word
# Token facts, bits of ``_Tokens.flags`` (see ``fast_vader``'s facts): a word that can change the
# valence of a lexicon word one to three words after it / right after it, "kind", "no", a lexicon
# word, one that scores, ALL CAPS, "but", the NUL token, the first / second word of a pair (see
# fast_vader), has "!" / one "?" / two or more "?".
_NEAR, _NEXT, _KIND, _NO, _LEX, _SCORES, _UPPER, _BUT, _MARKER, _PAIR, _PAIR2, _EXCL, _QUEST, _QUESTS = (
    1 << bit for bit in range(14))
_SPECIAL = _SCORES | _BUT | _MARKER | _PAIR | _QUEST  # the tokens ``columns`` looks at one by one
_BACK = np.array([1, 2, 3])  # how far before a lexicon word ``valence`` looks ...
_BACK_BITS = np.array([_NEAR | _NEXT, _NEAR, _NEAR], np.uint16)  # ... and what can act from there
_WINDOW = np.arange(-3, 3)  # the words ``valence`` reads around the lexicon word
# Whether the builtin sum() of floats adds left to right (before 3.12) or compensates (3.12+).
_SEQUENTIAL_SUM = sum([1.0, 1e100, 1.0, -1e100]) == 0.0


@dataclass(frozen=True, slots=True)
class FastVader:
    one: Callable[[str], float]  # ASCII text -> compound
    many: Callable[[Sequence[str]], list[float]]  # stripped, non-empty ASCII texts -> compounds


class _VaderWords(dict):
    """Lowercased token -> VADER's word for it (``SentiText._strip_punc_if_word``), memoized."""

    __slots__ = ()

    def __missing__(self, token: str) -> str:
        stripped = token.strip(string.punctuation)
        word = stripped if len(stripped) > 2 else token
        if len(self) >= _WORD_CACHE_MAX:
            self.clear()
        self[token] = word
        return word


class _Tokens(dict):
    """Token as written -> ``chr(row)`` of its facts (numpy columns, grown by doubling), memoized.

    One dict look-up a token (a character: a call's rows join into one string, read by numpy
    as uint32); every fact ``many`` needs then comes by indexing. ``ruled``: ``valence`` by
    the rows of the six tokens it reads, and the text's cap_diff / idioms (see ``many``).
    """

    def __init__(self, facts: Callable[[str], tuple[float, int, int, int]]) -> None:
        super().__init__()
        self._facts = facts
        self.ruled: dict[tuple[int, ...], float] = {}
        self.valence = np.zeros(1024)  # lexicon valence of the token's word if it scores, else 0.0
        self.flags = np.zeros(1024, np.uint16)  # _NEAR | _UPPER | ...
        self.first = np.full(1024, -1, np.intp)  # index of the word among pairs' first words, or -1
        self.second = np.full(1024, -1, np.intp)  # ... among pairs' second words

    def __missing__(self, token: str) -> str:
        row = len(self)
        if row == len(self.valence):
            self.valence = np.concatenate([self.valence, np.zeros(row)])
            self.flags = np.concatenate([self.flags, np.zeros(row, np.uint16)])
            self.first = np.concatenate([self.first, np.full(row, -1, np.intp)])
            self.second = np.concatenate([self.second, np.full(row, -1, np.intp)])
        self.valence[row], self.flags[row], self.first[row], self.second[row] = self._facts(token)
        self[token] = code = chr(row)
        return code


def _but_scaled(values: list[float], sides: list[int]) -> list[float]:
    """The library's ``_but_check`` on one text's lexicon-word sentiments (``sides``: -1 before the
    first "but", 1 after): it rescales the *first* sentiment equal to each (``list.index``), so an
    earlier equal one again, not the later. Other words' 0s equal no non-zero one and stay 0."""
    for value in values:  # the live list, as the library's loop (each step replaces one item in place)
        at = values.index(value)
        if sides[at] < 0:
            values[at] = value * 0.5
        elif sides[at] > 0:
            values[at] = value * 1.5
    return values


class _Compounds(dict):
    """sum_s -> ``round(normalize(sum_s), 4)``, memoized: a call's texts share few distinct sums."""

    __slots__ = ("_normalize",)

    def __init__(self, normalize: Callable[[float], float]) -> None:
        super().__init__()
        self._normalize = normalize

    def __missing__(self, sum_s: float) -> float:
        if len(self) >= _SUMS_MAX:
            self.clear()
        self[sum_s] = compound = round(self._normalize(sum_s), 4)
        return compound


def fast_vader(lexicon: dict[str, float], vs) -> FastVader | None:  # noqa: C901
    """VADER's compound for ASCII text with ``lexicon`` and ``vs``'s rules (module ``vaderSentiment``).

    None if the lexicon breaks an assumption below (a word of valence 0): use the library.

    ``valence`` is, line by line, the library's ``sentiment_valence`` with its
    ``scalar_inc_dec`` / ``_negation_check`` / ``_special_idioms_check`` / ``_least_check``,
    on words lowercased once. For ASCII text, lowercasing and punctuation stripping commute
    and stripping keeps ``isupper()``, so the lowered text's tokens are VADER's lowered words.

    A lexicon word no rule reaches keeps its lexicon valence (plus the ALL-CAPS emphasis),
    which is what ``valence`` computes for it too: every rule needs a rule word at or up to
    three words before it (``rule_words`` in ``one``; ``many`` tells finer where each acts,
    see ``facts``), a word with "n't", or two words of a multi-word idiom / dampener side by
    side (``pairs``); otherwise each step adds 0.0 or leaves the valence alone (lexicon
    valences are never 0, so adding 0.0 is exact).
    """
    booster = vs.BOOSTER_DICT
    negate = frozenset(vs.NEGATE)
    special = vs.SPECIAL_CASES
    n_scalar, c_incr = vs.N_SCALAR, vs.C_INCR
    normalize = vs.normalize
    but_check = vs.SentimentIntensityAnalyzer._but_check
    amplify_ep = vs.SentimentIntensityAnalyzer._amplify_ep
    amplify_qm = vs.SentimentIntensityAnalyzer._amplify_qm
    vader_words = _VaderWords()
    # Words that can score: lexicon words that are not boosters (polarity_scores skips those).
    scoring = {w: v for w, v in lexicon.items() if w not in booster}
    if any(v == 0 for v in scoring.values()):  # pragma: no cover - the shortcut relies on non-zero valences
        return None
    # Words whose presence (as the word or up to three before it) can change a lexicon word's valence.
    rule_words = frozenset(booster) | negate | {
        "no", "or", "nor", "never", "so", "this", "without", "doubt", "least", "at", "very", "kind", "of",
    }
    # Adjacent word pairs of the multi-word idioms and dampeners: no pair in the text, no idiom.
    multi = [k.split() for k in list(special) + list(booster) if " " in k]
    pair_list = sorted({(a, b) for words in multi for a, b in zip(words, words[1:])})
    pair_search = re.compile("|".join(re.escape(f"{a} {b}") for a, b in pair_list)).search
    scoring_words = scoring.keys()
    zeros = repeat(0)  # endless: map(scoring.get, words, zeros) is scoring.get(word, 0) per word

    def negated(word: str) -> bool:  # vs.negated([word]) for a lowercased word
        return word in negate or "n't" in word

    def valence(i: int, words: list[str], raw: list[str] | None, is_cap_diff: bool, idioms: bool) -> float:
        """``sentiment_valence`` for the lexicon word ``words[i]`` (``raw``: the original-case tokens).

        ``idioms``: whether the words have a pair (above) side by side; without, no multi-word
        idiom or dampener can match, and their checks are skipped.
        """
        item = words[i]
        last = len(words) - 1
        valence = lexicon[item]
        if item == "no" and i != last and words[i + 1] in lexicon:
            valence = 0.0
        if (i > 0 and words[i - 1] == "no") or (i > 1 and words[i - 2] == "no") \
                or (i > 2 and words[i - 3] == "no" and words[i - 1] in ("or", "nor")):
            valence = lexicon[item] * n_scalar
        if is_cap_diff and raw[i].isupper():  # type: ignore[index]
            if valence > 0:
                valence += c_incr
            else:
                valence -= c_incr
        for start_i in range(0, 3):
            if i > start_i:
                j = i - (start_i + 1)
                before = words[j]
                if before in lexicon:
                    continue
                # scalar_inc_dec
                s = 0.0
                if before in booster:
                    s = booster[before]
                    if valence < 0:
                        s *= -1
                    if is_cap_diff and raw[j].isupper():  # type: ignore[index]
                        if valence > 0:
                            s += c_incr
                        else:
                            s -= c_incr
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                # _negation_check
                if start_i == 0:
                    if negated(words[i - 1]):
                        valence = valence * n_scalar
                elif start_i == 1:
                    if words[i - 2] == "never" and (words[i - 1] == "so" or words[i - 1] == "this"):
                        valence = valence * 1.25
                    elif words[i - 2] == "without" and words[i - 1] == "doubt":
                        pass
                    elif negated(words[i - 2]):
                        valence = valence * n_scalar
                else:
                    w1, w2, w3 = words[i - 1], words[i - 2], words[i - 3]
                    if w3 == "never" and (w2 == "so" or w2 == "this") or (w1 == "so" or w1 == "this"):
                        valence = valence * 1.25
                    elif w3 == "without" and (w2 == "doubt" or w1 == "doubt"):
                        pass
                    elif negated(w3):
                        valence = valence * n_scalar
                    if not idioms:
                        continue  # the last step (start_i == 2): nothing more to check
                    # _special_idioms_check
                    onezero = f"{w1} {item}"
                    twoonezero = f"{w2} {w1} {item}"
                    twoone = f"{w2} {w1}"
                    threetwoone = f"{w3} {w2} {w1}"
                    threetwo = f"{w3} {w2}"
                    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
                        if seq in special:
                            valence = special[seq]
                            break
                    if last > i:
                        zeroone = f"{item} {words[i + 1]}"
                        if zeroone in special:
                            valence = special[zeroone]
                    if last > i + 1:
                        zeroonetwo = f"{item} {words[i + 1]} {words[i + 2]}"
                        if zeroonetwo in special:
                            valence = special[zeroonetwo]
                    for n_gram in (threetwoone, threetwo, twoone):
                        if n_gram in booster:
                            valence = valence + booster[n_gram]
        # _least_check
        if i > 1 and words[i - 1] not in lexicon and words[i - 1] == "least":
            if words[i - 2] != "at" and words[i - 2] != "very":
                valence = valence * n_scalar
        elif i > 0 and words[i - 1] not in lexicon and words[i - 1] == "least":
            valence = valence * n_scalar
        return valence

    def one(text: str) -> float:
        text = text.strip()
        low = text.lower()
        words = list(map(vader_words.__getitem__, low.split()))
        if scoring_words.isdisjoint(words):
            return 0.0  # every valence is 0: sum 0, no emphasis, normalize(0.0) == 0.0 (also for no words)
        n = len(words)
        # polarity_scores' loop: 0 for boosters and words outside the lexicon, the lexicon's valence
        # for the rest as a start (then the rules, where any can apply).
        sentiments: list[float] = list(map(scoring.get, words, zeros))
        raw: list[str] | None = None  # original-case tokens, for isupper(), when needed
        upper: list[int] = []  # indices of ALL-CAPS tokens
        is_cap_diff = False
        if low != text:  # some upper-case letter
            raw = text.split()
            upper = list(compress(range(n), map(str.isupper, raw)))
            is_cap_diff = 0 < len(upper) < n  # allcap_differential
        idioms = pair_search(" ".join(words)) is not None
        if "n't" in low or not rule_words.isdisjoint(words) or idioms:
            all_rules = "n't" in low or idioms
            last = n - 1
            for i in [i for i, v in enumerate(sentiments) if v]:
                item = words[i]
                if item == "kind" and i < last and words[i + 1] == "of":
                    sentiments[i] = 0  # "kind of" is a dampener, not a lexicon word
                elif all_rules or item in rule_words or not rule_words.isdisjoint(words[max(i - 3, 0):i]) \
                        or (is_cap_diff and raw[i].isupper()):  # type: ignore[index]
                    sentiments[i] = valence(i, words, raw, is_cap_diff, idioms)
        elif is_cap_diff:
            for i in upper:
                if sentiments[i]:
                    sentiments[i] = valence(i, words, raw, is_cap_diff, idioms)
        if "but" in words:
            sentiments = but_check(words, sentiments)
        sum_s = float(sum(sentiments))
        if "!" in text or "?" in text:  # else the emphasis is 0.0, and adding it changes nothing
            punct_emph_amplifier = amplify_ep(text) + amplify_qm(text)
            if sum_s > 0:
                sum_s += punct_emph_amplifier
            elif sum_s < 0:
                sum_s -= punct_emph_amplifier
        return round(normalize(sum_s), 4)

    firsts = {a: k for k, a in enumerate(sorted({a for a, _ in pair_list}))}
    seconds = {b: k for k, b in enumerate(sorted({b for _, b in pair_list}))}
    is_pair = np.zeros((len(firsts), len(seconds) + 1), bool)  # [first word, second word]; column -1: none
    for a, b in pair_list:
        is_pair[firsts[a], seconds[b]] = True

    # What ``valence`` reads around the lexicon word at i, beyond its own valence and ALL CAPS: a
    # booster or a negation (a NEGATE word or one with "n't") at i-1..i-3 (scalar_inc_dec,
    # _negation_check), "no" at i-1..i-3 (also "no" ... "or"/"nor"), "so"/"this"/"least" at i-1,
    # a lexicon word after "no" (the word itself), "kind" itself ("kind of"), and idioms (pairs,
    # above). "never" and "without" are NEGATE words; "doubt", "or", "at", "very" only count
    # next to one of those.
    near_words = frozenset(booster) | negate | {"no"}
    next_words = frozenset({"so", "this", "least"})

    def facts(token: str) -> tuple[float, int, int, int]:
        """(valence if it scores else 0.0, flags, pair-first index, pair-second index)."""
        word = vader_words[token.lower()]
        flags = (_NEAR * (word in near_words or "n't" in word) | _NEXT * (word in next_words)
                 | _KIND * (word == "kind") | _NO * (word == "no") | _LEX * (word in lexicon)
                 | _UPPER * token.isupper() | _BUT * (word == "but") | _MARKER * (token == _MARK)
                 | _PAIR * (word in firsts) | _PAIR2 * (word in seconds) | _SCORES * (word in scoring)
                 | _EXCL * ("!" in token) | _QUEST * (token.count("?") == 1) | _QUESTS * (token.count("?") > 1))
        return scoring.get(word, 0.0), flags, firsts.get(word, -1), seconds.get(word, -1)

    tokens = _Tokens(facts)
    compounds = _Compounds(normalize)
    lock = threading.Lock()  # the token memo grows in place: one batch at a time

    def many(texts: Sequence[str]) -> list[float]:
        """``[one(t) for t in texts]`` for stripped, non-empty ASCII texts, at once."""
        nonlocal tokens
        joined = f" {_MARK} ".join(texts)
        if not texts or _MARK in joined and joined.count(_MARK) != len(texts) - 1:  # NUL in a text
            return list(map(one, texts))
        raw = f"{joined} {_MARK}".split()  # every text's tokens, then a NUL token
        if len(raw) > _ROWS_MAX:  # more distinct tokens than characters could name
            return list(map(one, texts))
        with lock:
            if len(tokens) > _WORD_CACHE_MAX or len(tokens) + len(raw) > _ROWS_MAX:
                tokens = _Tokens(facts)
            table = tokens
            rows = "".join(itemgetter(*raw)(table)).encode("utf-32-le", "surrogatepass")
            return columns(texts, raw, np.frombuffer(rows, np.uint32), table)

    def columns(texts: Sequence[str], raw: list[str], ids: np.ndarray, table: _Tokens) -> list[float]:
        flags = table.flags.take(ids)
        special = (flags & _SPECIAL).nonzero()[0]
        kinds = flags.take(special)
        ends = special[(kinds & _MARKER) != 0]  # text k is raw[starts[k]:ends[k]]
        starts = np.concatenate(([0], ends[:-1] + 1))
        bounds = np.empty(2 * len(ends), np.intp)  # reduceat: [start, end) of each text, then its NUL
        bounds[0::2], bounds[1::2] = starts, ends
        any_flags = np.bitwise_or.reduceat(flags, bounds)[::2]
        cap_diff = (any_flags & ~np.bitwise_and.reduceat(flags, bounds)[::2] & _UPPER) != 0  # allcap_differential
        # Texts with a multi-word idiom's words side by side: every lexicon word in them takes the rules.
        idiom = np.zeros(len(texts), bool)
        at = special[(kinds & _PAIR) != 0]  # never the last token (a NUL)
        at = at[(flags.take(at + 1) & _PAIR2) != 0]
        if len(at):
            idiom[np.searchsorted(ends, at[is_pair[table.first[ids[at]], table.second[ids[at + 1]]]])] = True
        # The scored words' valences: the lexicon's, or where a rule word can act (see facts), ALL CAPS
        # in a cap_diff text or in an idiom text, ``valence``'s. The three words before may be the text
        # before's, or wrap at 0: ruling more words than needed is exact (``valence`` reads its text's).
        is_scored = (kinds & _SCORES) != 0
        scored, own_flags = special[is_scored], kinds[is_scored]
        owner = np.searchsorted(ends, scored)  # text of each scored word
        values = table.valence.take(ids.take(scored))
        before = flags.take(scored[:, None] - _BACK, mode="wrap") & _BACK_BITS
        no_then_lexicon = ((own_flags & _NO) != 0) & ((flags.take(scored + 1) & _LEX) != 0)  # "no" + word
        ruled = before.any(axis=1) | ((own_flags & _KIND) != 0) | no_then_lexicon
        ruled |= idiom[owner] | ((own_flags & _UPPER) != 0) & cap_diff[owner]
        if ruled.any():
            values[ruled] = ruled_valences(raw, ids, scored[ruled], owner[ruled], starts, ends, cap_diff, idiom, table)
        buts = special[(kinds & _BUT) != 0]
        if len(buts):
            but_scaled(values, scored, owner, buts.tolist(), np.searchsorted(ends, buts).tolist(), len(texts))
        # polarity_scores' float(sum(sentiments)): the sum of each text's scored valences in order (the
        # 0s between change no float sum). numpy adds them up alike where sum() adds left to right;
        # where it compensates (Python 3.12+), only two terms: more go through sum().
        rank = np.arange(len(scored)) - np.searchsorted(owner, owner)
        terms = np.zeros((len(texts), max(int(rank.max()) + 1 if len(rank) else 0, 2)))
        terms[owner, rank] = values
        sums = 0.0 + terms[:, 0]  # 0.0 first: sum() starts at 0, and 0 + -0.0 is 0.0
        for column in terms.T[1:] if _SEQUENTIAL_SUM else terms.T[1:2]:
            sums += column
        many_terms = owner[rank == 2] if not _SEQUENTIAL_SUM else ()
        if len(many_terms):
            sums[many_terms] = list(map(sum, terms[many_terms].tolist()))
        # _punctuation_emphasis (by the library's functions) where it is not 0.0 (a "!" or two "?")
        # and the sum is not 0.
        loud = (any_flags & (_EXCL | _QUESTS)) != 0
        questions = np.bincount(np.searchsorted(ends, special[(kinds & _QUEST) != 0]), minlength=len(texts))
        loud = ((loud | (questions > 1)) & (sums != 0)).nonzero()[0].tolist()
        sums = sums.tolist()
        for k in loud:
            sum_s, text = sums[k], texts[k]
            emphasis = amplify_ep(text) + amplify_qm(text)
            sums[k] = sum_s + emphasis if sum_s > 0 else sum_s - emphasis
        return list(map(compounds.__getitem__, sums))

    def but_scaled(values: np.ndarray, scored: np.ndarray, owner: np.ndarray, buts: list[int],
                   but_texts: list[int], n_texts: int) -> None:
        """``_but_check``, in place, on the valences of the scored words of each text with a "but" (tokens ``buts``)."""
        of_text = np.searchsorted(owner, np.arange(n_texts + 1)).tolist()  # text k: scored[of_text[k]:of_text[k + 1]]
        done: set[int] = set()
        for at, k in zip(buts, but_texts):  # the first "but" of a text comes first
            lo, hi = of_text[k], of_text[k + 1]
            if k in done or lo == hi:
                continue
            done.add(k)
            sides = [-1 if word < at else 1 if word > at else 0 for word in scored[lo:hi].tolist()]
            values[lo:hi] = _but_scaled(values[lo:hi].tolist(), sides)

    def ruled_valences(raw: list[str], ids: np.ndarray, ruled_at: np.ndarray, owner: np.ndarray,
                       starts: np.ndarray, ends: np.ndarray, cap_diff: np.ndarray, idiom: np.ndarray,
                       table: _Tokens) -> list[float]:
        """``valence`` of each lexicon word at ``ruled_at`` (a token index in ``raw``), as ``one`` finds it.

        ``valence`` reads the words from three before to two after (``last`` only to know
        whether they exist) and the text's cap_diff and idioms: remembered by those.
        """
        near = ruled_at[:, None] + _WINDOW
        inside = (near >= starts[owner][:, None]) & (near < ends[owner][:, None])
        window = np.where(inside, ids[np.minimum(near, len(ids) - 1)], _ROWS_MAX)  # _ROWS_MAX: no word
        keys = list(zip(*window.T.tolist(), (cap_diff[owner] * 2 + idiom[owner]).tolist()))
        memo = table.ruled
        values = list(map(memo.get, keys))
        text = -1
        for n, (value, at, k) in enumerate(zip(values, ruled_at.tolist(), owner.tolist())):
            if value is not None:
                continue
            if k != text:
                text, start = k, int(starts[k])
                tokens = raw[start:ends[k]]
                words = list(map(vader_words.__getitem__, map(str.lower, tokens)))
                last, idioms, is_cap_diff = len(words) - 1, bool(idiom[k]), bool(cap_diff[k])
            i = at - start
            if words[i] == "kind" and i < last and words[i + 1] == "of":
                values[n] = 0.0  # "kind of" is a dampener, not a lexicon word
            else:
                values[n] = valence(i, words, tokens, is_cap_diff, idioms)
            if len(memo) >= _RULED_MAX:
                memo.clear()
            memo[keys[n]] = values[n]
        return values

    return FastVader(one, many)
