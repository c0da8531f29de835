"""Pick a plot's telling words (rare in the language, so they say what the story is about; pure)."""

from functools import lru_cache

import simplemma
import wordfreq

from service.core.vocab import LANGS, PLOT_PREFIX, tokenize, word_keys

MAX_WORDS = 16  # per film: the rarest words of its plots
MAX_REVIEW_WORDS = 8  # and of its reviews, where the plot has not named them
REVIEW_WEIGHT = 0.5
MAX_ZIPF = 4.5  # words more frequent than this (about 1 in 30,000 words) say little
_MIN_LEN = 4


@lru_cache(maxsize=200_000)
def _lemma_and_rarity(word: str, lang: str) -> tuple[str, float] | None:
    """Return a word's lemma and its Zipf frequency in lang, or None for a word that says little."""
    if len(word) < _MIN_LEN or not word.isalpha():
        return None
    if word[0].isupper() and not (
        simplemma.is_known(word, lang=lang) or simplemma.is_known(word.lower(), lang=lang)
    ):
        return None  # a name (Seo-yeon, Katniss): it ties films by their characters, not stories
    keys = word_keys(word, lang)
    lemma = min(keys, key=lambda k: (len(k), k))  # the shortest key, the same in every process
    zipf = min(wordfreq.zipf_frequency(k, lang) for k in keys | {word.lower()})
    # a word the language's word list lacks (a name, a typo, a blog's handle) is left out too
    if not 0 < zipf <= MAX_ZIPF or len(lemma) < _MIN_LEN:
        return None
    return lemma, zipf


def film_plot_words(synopses: list[tuple[str, str]], reviews: list[tuple[str, str]]):
    """Return a film's plot family: its synopses' rarest words, then its reviews' at half weight."""
    own = plot_words(synopses)
    from_reviews = plot_words(reviews, MAX_REVIEW_WORDS, exclude=own)
    return {**{w: REVIEW_WEIGHT for w in from_reviews}, **own}


def plot_words(
    texts: list[tuple[str, str]], limit: int = MAX_WORDS, exclude=frozenset()
) -> dict[str, float]:
    """Return {plot:<lemma>: 1.0} for the `limit` rarest words of (lang, text) pairs.

    Rarity comes from wordfreq's general-language frequencies, so a film's words are chosen
    without catalog statistics; the ranking's IDF then weighs them within the catalog.
    """
    best: dict[str, float] = {}
    for lang, text in texts:
        if lang not in LANGS:
            continue
        for word in tokenize(text):
            found = _lemma_and_rarity(word, lang)
            if (
                found
                and found[1] < best.get(found[0], 99.0)
                and PLOT_PREFIX + found[0] not in exclude
            ):
                best[found[0]] = found[1]
    chosen = sorted(best, key=lambda w: (best[w], w))[:limit]
    return {PLOT_PREFIX + w: 1.0 for w in sorted(chosen)}


def unload() -> None:
    """Forget the words looked up and wordfreq's word lists (they load again when next asked
    for): for a process that only ranks."""
    _lemma_and_rarity.cache_clear()
    for cached in (wordfreq.get_frequency_dict, wordfreq.get_frequency_list):
        cached.cache_clear()
