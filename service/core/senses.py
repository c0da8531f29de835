"""Decide a synonym's word sense from its sentence: part of speech, set phrases, cues, figures."""

from dataclasses import dataclass

from service.core.pos import POS, tag_clause

_RULE_KEYS = {"word", "lang", "pos", "not_in", "not_before", "needs", "compound", "literal"}
_COMPOUND = {"any", "head", "never"}
_WINDOW = 4  # words tagged on either side of a match
# "a dance of diplomacy", "ein Kampf der Gefühle": the word, a linking word, then an abstract noun
_LINKS = {
    "en": frozenset({"of", "with", "against", "between", "over"}),
    "de": frozenset({"der", "des", "mit", "gegen", "um", "ums", "zwischen", "von"}),
}
_ABSTRACT_SUFFIXES = {
    "en": ("tion", "sion", "ness", "ity", "ism", "acy", "ment", "ence", "ance", "ship", "hood"),
    "de": ("ung", "heit", "keit", "schaft", "ion", "tät", "ismus", "nis", "tum", "gefühl"),
}
_ABSTRACT_WORDS = {
    "en": frozenset(
        {"emotion", "feeling", "wit", "word", "nerve", "will", "love", "hate", "desire", "fate"}
        | {"ego", "heart", "mind", "truth", "lie", "sex", "wills", "wits", "words", "nerves"}
        | {"feelings", "emotions", "hearts", "minds", "lies", "sexes", "egos", "grief", "pride"}
        | {"passion", "jealousy", "seduction", "power", "politics", "glance", "glances"}
        | {"memory", "memories", "past", "tears", "guilt", "fear", "hope", "despair", "rage"}
    ),
    "de": frozenset(
        {"gefühl", "gefühle", "emotion", "emotionen", "liebe", "leidenschaft", "sinne"}
        | {"nerv", "nerven", "wort", "worte", "trauer", "angst", "schmerz", "eifersucht"}
        | {"lust", "macht", "wille", "stolz", "ego", "seele", "herz", "herzen", "geschlechter"}
        | {"blick", "blicke", "verlust", "begierde", "intrige", "intrigen", "loyalität"}
    ),
}


class SenseError(ValueError):
    """A sense rule is malformed."""


@dataclass(frozen=True)
class Sense:
    """When a synonym counts: see docs/TAGGING.md ("Word sense")."""

    pos: tuple[frozenset[str], ...] = ()  # allowed parts of speech, per word of the synonym
    not_in: tuple[tuple[frozenset[str], ...], ...] = ()  # set phrases, as per-word keys
    not_before: frozenset[str] = frozenset()  # words that may not follow (a history buff)
    needs: tuple[tuple[frozenset[str], ...], ...] = ()  # cues, one of which is in the sentence
    compound: str = "any"  # inside a German compound: any part, only the head, never
    literal: bool = False  # not before "of/der" + an abstract noun (figurative use)


def expand_cues(data: dict, error: type[ValueError] = ValueError) -> dict:
    """Return merged vocabulary data with each "@name" in a sense's `needs` replaced by the
    words of the list `name` of its [cues] table: named cue lists that many senses share (the
    words of a film or its telling, which tone words need). A bad list or name raises error."""
    cues = data.pop("cues", {})
    if not isinstance(cues, dict) or not all(
        isinstance(words, list) and words and all(isinstance(w, str) and w.strip() for w in words)
        for words in cues.values()
    ):
        raise error('[cues] holds named lists of words: film = ["film", "story", ...]')
    for tag_id, spec in data.get("tags", {}).items():
        for raw in spec.get("senses", []) if isinstance(spec, dict) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("needs"), list):
                continue
            needs = []
            for need in raw["needs"]:
                if isinstance(need, str) and need.startswith("@"):
                    if need[1:] not in cues:
                        raise error(f"tag {tag_id!r}: needs {need!r}, not in [cues]")
                    needs.extend(cues[need[1:]])
                else:
                    needs.append(need)
            raw["needs"] = needs
    return data


def parse_sense(raw: dict, synonym_words: int, keys_of) -> Sense:
    """Return the Sense of one `senses` entry (word and lang already checked); keys_of(phrase)."""
    if not isinstance(raw, dict):
        raise SenseError("a sense is a table like { word = ..., lang = ..., pos = ... }")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise SenseError(f"unknown keys {sorted(unknown)} (allowed: {sorted(_RULE_KEYS)})")
    word = raw["word"].lower()
    pos = raw.get("pos", ())
    pos = [pos] if isinstance(pos, str) else list(pos)
    if pos and len(pos) not in (1, synonym_words):
        raise SenseError(f"pos needs one entry or one per word of {word!r}")
    for p in pos:
        if not isinstance(p, str) or not set(p.split("|")) <= POS | {"any"}:
            raise SenseError(f"pos {p!r}: use {sorted(POS)} or 'any', several joined by '|'")
    for key in ("not_in", "not_before", "needs"):
        if not isinstance(raw.get(key, []), list) or not all(
            isinstance(p, str) and p.strip() for p in raw.get(key, [])
        ):
            raise SenseError(f"{key} must be a list of phrases")
    for phrase in raw.get("not_in", []):
        if word.replace(" ", "") not in phrase.lower().replace(" ", ""):
            raise SenseError(f"not_in phrase {phrase!r} does not contain {word!r}")
    compound = raw.get("compound", "any")
    if compound not in _COMPOUND:
        raise SenseError(f"compound must be one of {sorted(_COMPOUND)}")
    if not isinstance(raw.get("literal", False), bool):
        raise SenseError("literal must be true or false")
    return Sense(
        pos=tuple(frozenset(p.split("|")) for p in pos),
        not_in=tuple(_set_phrase(p, keys_of) for p in raw.get("not_in", [])),
        not_before=frozenset(
            k for w in raw.get("not_before", []) for keys in keys_of(w) for k in keys
        ),
        needs=tuple(keys_of(p) for p in raw.get("needs", [])),
        compound=compound,
        literal=raw.get("literal", False),
    )


class Context:
    """A clause being matched, with its sentence: what sense rules look at."""

    def __init__(self, tokens: list[str], keys: list[frozenset[str]], lang: str, sentence_keys):
        self.tokens, self.keys, self.lang = tokens, keys, lang
        # () -> per-token keys of the whole sentence; None for a name (a keyword, a genre)
        self._sentence_keys = sentence_keys
        self._sentence: list[frozenset[str]] | None = None
        self._windows: dict[tuple[int, int], tuple[str, ...]] = {}

    def pos(self, i: int, start: int, end: int) -> str:
        """Return the part of speech of token i, read around the match tokens[start:end].

        The tagger reads a window of _WINDOW words on either side of the match, not the whole
        clause: enough context for the neighbour rules, and a third of the cost.
        """
        lo, hi = max(0, start - _WINDOW), min(len(self.tokens), end + _WINDOW)
        if (lo, hi) not in self._windows:
            self._windows[(lo, hi)] = tag_clause(tuple(self.tokens[lo:hi]), self.lang)
        return self._windows[(lo, hi)][i - lo]

    def allows(
        self, sense: Sense, start: int, end: int, part: str | None = None, after: str = ""
    ) -> bool:
        """Say whether the match tokens[start:end] (or a compound's part) has the sense.

        part: "head" or "modifier" for a part of the German compound tokens[start]; after: the
        compound's next part, if any.
        """
        if part is not None and sense.compound != "any":
            if sense.compound == "never" or part != "head":
                return False
        if sense.not_in and _inside_phrase(self.keys, sense.not_in, start, end):
            return False
        if sense.not_before:
            following = (
                {after} if part is not None else self.keys[end] if end < len(self.keys) else ()
            )
            if sense.not_before & set(following):
                return False
        if self._sentence_keys is None:
            return True  # a name (keyword, genre): no sentence to read a sense in
        if sense.needs:
            if self._sentence is None:
                self._sentence = self._sentence_keys()
            if not any(_has_phrase(need, self._sentence) for need in sense.needs):
                return False
        if sense.pos and part is None:
            allowed = sense.pos * (end - start) if len(sense.pos) == 1 else sense.pos
            for i, ok in zip(range(start, end), allowed, strict=False):
                if "any" not in ok and self.pos(i, start, end) not in ok:
                    return False
        return not (sense.literal and self._figurative(start, end))

    def _figurative(self, start: int, end: int) -> bool:
        """Say whether a linking word and an abstract noun follow (a dance of diplomacy)."""
        if end >= len(self.tokens) or self.tokens[end].lower() not in _LINKS[self.lang]:
            return False
        for i in range(end + 1, min(end + 4, len(self.tokens))):
            if self.pos(i, start, end) in ("det", "adj", "attr", "prep"):
                continue
            return self.pos(i, start, end) == "noun" and _abstract(self.keys[i], self.lang)
        return False


def _has_phrase(phrase: tuple[frozenset[str], ...], keys: list) -> bool:
    n = len(phrase)
    return any(all(keys[s + j] & phrase[j] for j in range(n)) for s in range(len(keys) - n + 1))


def _inside_phrase(keys: list, phrases, start: int, end: int) -> bool:
    """Say whether one of the phrases covers a stretch of keys that overlaps [start, end)."""
    for phrase in phrases:
        n = len(phrase)
        for s in range(max(0, start - n + 1), min(end, len(keys) - n + 1)):
            if all(_word_in(keys[s + j], phrase[j]) for j in range(n)):
                return True
    return False


def _set_phrase(phrase: str, keys_of) -> tuple[frozenset[str], ...]:
    """Return a not_in phrase's per-word keys; a word ending in "*" stays a prefix (mords*)."""
    words: list[frozenset[str]] = []
    for w in phrase.split():
        words.extend([frozenset({w.lower()})] if w.endswith("*") else keys_of(w))
    return tuple(words)


def _word_in(keys: frozenset[str], wanted: frozenset[str]) -> bool:
    if keys & wanted:
        return True
    prefixes = [w[:-1] for w in wanted if w.endswith("*")]
    return any(k.startswith(prefix) for k in keys for prefix in prefixes)


def _abstract(keys: frozenset[str], lang: str) -> bool:
    words, suffixes = _ABSTRACT_WORDS[lang], _ABSTRACT_SUFFIXES[lang]
    return any(k in words or k.endswith(suffixes) for k in keys)
