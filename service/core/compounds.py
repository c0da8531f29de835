"""Split German compounds into known words, head last (dictionary-driven, no extra data)."""

from functools import lru_cache

import simplemma

GLUES = ("ens", "es", "en", "er", "e", "n", "s")  # German linking elements (Fugenelemente)
MIN_COMPOUND = 8  # shorter German words are not split
MIN_PART_LEN = 3  # shortest part of a split compound
FILM_KINDS = frozenset({"genre", "tone"})  # tags that name a kind of film


class Splitter:
    """Split German words into parts that simplemma's lexicon or the vocabulary's words know."""

    def __init__(self, words):
        self._words = words  # vocabulary words that may match inside compounds
        self._cache: dict[tuple[str, bool], tuple[str, ...] | None] = {}

    def split(self, word: str, glued: bool = False) -> tuple[str, ...] | None:
        """Split a German word into at least two known words (None if it has no such split).

        Dynamic programming over the word: a part is a word that simplemma's German lexicon or
        the vocabulary knows; a part followed by another may end in a linking element
        (Behandlung+s). Fewest parts win, then parts that are vocabulary words, then longer
        parts. Long parts that are not vocabulary words are split again: finer parts are harmless,
        since the vocabulary matches runs of adjacent parts (kranken|haus|personal still
        gives "krankenhaus").
        glued: the word itself precedes another part, so its last part may carry a linking element.
        """
        key = (word, glued)
        if key not in self._cache:
            parts = self._segment(word, glued)
            if parts:
                last = len(parts) - 1
                parts = tuple(
                    sub
                    for i, part in enumerate(parts)
                    for sub in (
                        (
                            len(part) >= MIN_COMPOUND
                            and not self._part_kind(part, glued or i < last)
                            and self.split(part, glued or i < last)
                        )
                        or (part,)
                    )
                )
            self._cache[key] = parts
        return self._cache[key]

    def _segment(self, word: str, glued: bool) -> tuple[str, ...] | None:
        n = len(word)
        # best[i] = (cost, parts) of the best split of word[i:]; costs compare as tuples
        best: list[tuple | None] = [None] * (n + 1)
        best[n] = ((0, 0, 0), ())
        for i in range(n - MIN_PART_LEN, -1, -1):
            for j in range(i + MIN_PART_LEN, n + 1):
                if best[j] is None or (i == 0 and j == n):
                    continue  # the whole word is no split
                in_vocab = self._part_kind(word[i:j], glue=glued or j < n)
                if in_vocab is None:
                    continue
                (count, unknown, size), rest = best[j]
                cost = (count + 1, unknown + (not in_vocab), size - (j - i) ** 2)
                if best[i] is None or cost < best[i][0]:
                    best[i] = (cost, (word[i:j], *rest))
        return best[0][1] if best[0] is not None else None

    def _part_kind(self, part: str, glue: bool) -> bool | None:
        """Return True for a vocabulary word, False for another known word, None for no word."""
        forms = [part, *strip_glue(part)] if glue else [part]
        if any(f in self._words for f in forms):
            return True
        if any(_known_de(f) for f in forms):
            return False
        return None


def strip_glue(word: str) -> list[str]:
    """Return word without each linking element it may end in (Behandlungs -> Behandlung)."""
    return [word[: -len(g)] for g in GLUES if word.endswith(g) and len(word) - len(g) >= 3]


@lru_cache(maxsize=100_000)
def _known_de(word: str) -> bool:
    return simplemma.is_known(word, lang="de") or simplemma.is_known(word.capitalize(), lang="de")


def genre_head(vocab, lang: str, words: list[str], at: int, tags: tuple, context) -> tuple:
    """Add to a German word's tags the genre its head names, if the word names a kind of
    film: a Schul|komödie (teen-comedy) is a Komödie, a Justiz|drama (legal-drama) a Drama.
    Words of other kinds keep their head out (Welt|krieg is the Second World War, not the war
    genre; the whole word is the synonym because its head alone would mislead).
    words: the match, which must be one German word; at, context: its place in its clause
    and the clause (sense rules read the head)."""
    word = words[0] if len(words) == 1 else ""
    if lang != "de" or len(word) < MIN_COMPOUND or not word[:1].isupper():
        return tags
    if not any(vocab.tags[t].kind in FILM_KINDS for t, _ in tags):
        return tags
    parts = vocab._split(word.lower())
    for a in range(1, len(parts or ())):
        hit = vocab._single["de"].get("".join(parts[a:]))
        if hit:
            have = {t for t, _ in tags}
            extra = [
                (tag, 1.0)
                for tag, sense in hit
                if tag not in have
                and vocab.tags[tag].kind == "genre"
                and (sense is None or context.get().allows(sense, at, at + 1, "head"))
            ]
            return tuple(sorted((*tags, *extra)))
    return tags
