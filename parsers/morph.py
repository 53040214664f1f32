"""Russian word normalisation for keyword rules: tokenizer, cached lemmatizer (pymorphy3, else Snowball)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

# Letters of any script plus digits; hyphenated words («кто-то», «Йошкар-Ола») stay one token.
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)

# Only the head of a long text is lemmatized: keywords that decide a kind sit near the top,
# and lemmatizing a 200 KB forwarded thread would dominate classification time.
DEFAULT_LIMIT = 4096


def tokens(text: str, limit: int | None = DEFAULT_LIMIT) -> list[str]:
    """Lower-cased words of `text` (first `limit` characters), with «ё» folded to «е»."""
    if limit is not None:
        text = text[:limit]
    return [m.group(0).lower().replace("ё", "е") for m in _WORD.finditer(text)]


@lru_cache(maxsize=1)
def _backend() -> tuple[str, Callable[[str], tuple[str, ...]]]:
    """Choose the lemmatizer once: pymorphy3 when its dictionaries load, Snowball stems otherwise."""
    try:
        import pymorphy3

        analyzer = pymorphy3.MorphAnalyzer()

        def by_pymorphy(word: str) -> tuple[str, ...]:
            forms: list[str] = []
            for parse in analyzer.parse(word):
                form = parse.normal_form.replace("ё", "е")
                if form not in forms:
                    forms.append(form)
            return tuple(forms)

        return "pymorphy3", by_pymorphy
    except Exception:  # a missing or broken dictionary package must not stop classification
        import snowballstemmer

        stemmer = snowballstemmer.stemmer("russian")
        return "snowball", lambda word: (stemmer.stemWord(word),)


def backend_name() -> str:
    """Which normaliser is in use: "pymorphy3" or "snowball"."""
    return _backend()[0]


def lemma(word: str) -> str:
    """Most likely normal form of a word (lower-cased, «ё» → «е»); non-Cyrillic words are only lower-cased."""
    forms = lemma_set(word)
    return forms[0]


def lemma_set(word: str) -> tuple[str, ...]:
    """Every normal form a word may have, most likely first: «ямы» → (ям, яма).

    pymorphy3 ranks «ям» first for «ямы», so matching on the first form alone would miss the
    keyword «яма»; matching on any form keeps recall, and keywords are specific enough.
    """
    word = word.lower().replace("ё", "е")
    if not _has_cyrillic(word):
        # Not cached: numbers, phones and ids are new in nearly every letter, and lower-casing
        # them costs less than a cache entry that a long-running daemon would keep.
        return (word,)
    return _cyrillic_lemma_set(word)


# Measured (docs/RELIABILITY.md, Memory): about 0.3 KB per entry, so 16,384
# Russian word forms cost about 5 MB; a municipality's mail uses fewer distinct forms than that.
CACHE_WORDS = 16384


@lru_cache(maxsize=CACHE_WORDS)
def _cyrillic_lemma_set(word: str) -> tuple[str, ...]:
    try:
        return _backend()[1](word) or (word,)
    except Exception:  # a lemmatizer failure on one odd token degrades to the token itself
        return (word,)


def _clear_caches() -> None:
    _cyrillic_lemma_set.cache_clear()


# lemma and lemma_set used to be lru_caches themselves; callers that reset the cache (tests that swap
# the backend) keep working.
lemma.cache_clear = lemma_set.cache_clear = _clear_caches  # type: ignore[attr-defined]


def lemmas(text: str, limit: int | None = DEFAULT_LIMIT) -> list[str]:
    """Most likely lemmas of the words of `text`, in order (first `limit` characters only)."""
    return [lemma(t) for t in tokens(text, limit)]


@lru_cache(maxsize=4096)
def phrase_lemmas(phrase: str) -> tuple[tuple[str, ...], ...]:
    """Lemma sets of a keyword phrase, matched as a contiguous run («на доработку» → на, доработка)."""
    return tuple(lemma_set(t) for t in tokens(phrase, None))


class LemmaText:
    """A text read once into lemma sets with an index, so that many keyword phrases test cheaply."""

    __slots__ = ("index", "seq")

    def __init__(self, text: str, limit: int | None = DEFAULT_LIMIT) -> None:
        self.seq: list[tuple[str, ...]] = [lemma_set(t) for t in tokens(text, limit)]
        self.index: dict[str, list[int]] = {}
        for i, forms in enumerate(self.seq):
            for form in forms:
                self.index.setdefault(form, []).append(i)

    def count(self, phrase: str) -> int:
        """How many times the phrase occurs as a contiguous run of words (any word form)."""
        run = phrase_lemmas(phrase)
        if not run:
            return 0
        starts = sorted({i for form in run[0] for i in self.index.get(form, ())})
        if len(run) == 1:
            return len(starts)
        n = len(run)
        hits = 0
        for i in starts:
            if i + n <= len(self.seq) and all(
                not set(self.seq[i + k]).isdisjoint(run[k]) for k in range(1, n)
            ):
                hits += 1
        return hits

    def has(self, phrase: str) -> bool:
        return self.count(phrase) > 0

    def find(self, phrases: Iterable[str]) -> list[str]:
        """The phrases that occur, in the order given."""
        return [p for p in phrases if self.count(p)]


def _has_cyrillic(word: str) -> bool:
    return any("а" <= ch <= "я" or ch == "ё" for ch in word)
