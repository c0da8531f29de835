"""Tag the parts of speech of a clause: HanTa's German and English models, plus English fixes."""

from functools import lru_cache

# "attr": an English noun used attributively before another noun ("a patient producer")
POS = frozenset({"noun", "name", "attr", "verb", "adj", "adv", "pronoun", "det", "prep", "other"})
_MODELS = {"de": "morphmodel_ger.pgz", "en": "morphmodel_en.pgz"}
# HanTa's tag sets (STTS for German, CLAWS5 for English) by the start of a tag, longest first
_COARSE = {
    "de": [("NN", "noun"), ("NE", "name"), ("ADJ", "adj"), ("V", "verb"), ("PPOSAT", "det"),
           ("PPER", "pronoun"), ("PRF", "pronoun"), ("PDS", "pronoun"), ("PIS", "pronoun"),
           ("PRELS", "pronoun"), ("PWS", "pronoun"), ("ART", "det"), ("PDAT", "det"),
           ("PIAT", "det"), ("PWAT", "det"), ("ADV", "adv"), ("PAV", "adv"), ("PWAV", "adv"),
           ("APP", "prep"), ("TRUNC", "noun")],
    "en": [("NP", "name"), ("NN", "noun"), ("AJ", "adj"), ("V", "verb"), ("PN", "pronoun"),
           ("AT", "det"), ("DPS", "det"), ("DT", "det"), ("AV", "adv"), ("PR", "prep")],
}  # fmt: skip
# English words HanTa mis-tags that simple neighbour rules settle (see _english_fixes)
_EN_DETS = frozenset(
    {"the", "a", "an", "his", "her", "their", "its", "my", "your", "our", "this", "that"}
    | {"these", "those", "every", "each", "another", "some", "any", "no"}
)
_EN_OBJECTS = frozenset({"him", "them", "me", "us", "himself", "herself", "themselves"})
# a plural or relative subject: the word after it is its verb ("bullies who train at a gym")
_EN_SUBJECTS = frozenset({"who", "they", "we", "you", "i"})
_EN_COPULAS = frozenset(
    {"be", "is", "are", "was", "were", "been", "being", "remain", "remains", "remained", "stay"}
    | {"stays", "stayed", "seem", "seems", "seemed", "become", "becomes", "became", "grow"}
    | {"grows", "grew", "get", "gets", "got"}
)
_EN_DEGREE = frozenset(
    {"very", "so", "too", "more", "most", "less", "quite", "rather", "extremely", "endlessly"}
    | {"infinitely", "incredibly", "remarkably", "ever", "always", "increasingly"}
)


def load_taggers() -> None:
    """Load HanTa's German and English models now (else the first sense that needs one does)."""
    for lang in _MODELS:
        _tagger(lang)


def unload() -> None:
    """Forget the models and the clauses tagged (they load again when next asked for): for a
    process that only ranks."""
    for cached in (_tagger, tag_clause, _readings):
        cached.cache_clear()


@lru_cache(maxsize=2)
def _tagger(lang: str):
    from HanTa import HanoverTagger  # ~0.45 s per model, so only when a sense asks for it

    return HanoverTagger.HanoverTagger(_MODELS[lang])


@lru_cache(maxsize=50_000)
def tag_clause(tokens: tuple[str, ...], lang: str) -> tuple[str, ...]:
    """Return the coarse part of speech of each token (HanTa, plus English neighbour rules)."""
    if not tokens:
        return ()
    tags = [_coarse(tag, lang) for _word, _lemma, tag in _tagger(lang).tag_sent(list(tokens))]
    return tuple(_english_fixes(tokens, tags) if lang == "en" else tags)


@lru_cache(maxsize=20_000)
def _readings(word: str) -> frozenset[str]:
    """Return the coarse parts of speech HanTa's English lexicon allows for a word."""
    return frozenset(_coarse(tag, "en") for tag, _ in _tagger("en").tag_word(word, cutoff=5))


def _coarse(tag: str, lang: str) -> str:
    return next((coarse for prefix, coarse in _COARSE[lang] if tag.startswith(prefix)), "other")


def _english_fixes(tokens: tuple[str, ...], tags: list[str]) -> list[str]:
    """Correct what HanTa's English model gets wrong around ambiguous words.

    Verbs first: a "noun" after a subject and before an article or an object pronoun ("the
    studio fires the director"), or after "to" and before a noun phrase ("to battle
    hypothermia"), is a verb; so is one right after "who", "they", "we", "you" or "I" that
    can be a verb ("bullies who train at a gym"). Then adjectives: a noun after an article
    or a degree word and before another noun is used attributively, "attr" ("a patient
    producer", "a history buff"); a noun that can be an adjective, right after a copula or a
    degree word and ending its phrase, is one too ("she remains patient", "so patient").
    """
    low = [t.lower() for t in tokens]
    n = len(low)
    fixed = list(tags)
    for i in range(1, n - 1):
        if tags[i] != "noun":
            continue
        after, after_tag = low[i + 1], tags[i + 1]
        object_follows = after in _EN_DETS or after in _EN_OBJECTS
        subject = tags[i - 1] in ("noun", "name", "pronoun") and low[i - 1] not in _EN_DETS
        if (
            (subject and object_follows)
            or (low[i - 1] == "to" and (object_follows or after_tag in ("noun", "name")))
            or (low[i - 1] in _EN_SUBJECTS and "verb" in _readings(tokens[i]))
        ):
            fixed[i] = "verb"
    tags = list(fixed)
    for i in range(1, n):
        if tags[i] != "noun":
            continue
        before = low[i - 1]
        after_tag = tags[i + 1] if i + 1 < n else ""
        if (
            (before in _EN_DETS or before in _EN_DEGREE)
            and after_tag == "noun"
            and low[i + 1] != "s"  # "her doctor's license": a possessor
            and "verb" not in _readings(tokens[i + 1])  # "a judge clash over": clash is a verb
        ):
            fixed[i] = "attr"
        elif (
            (before in _EN_COPULAS or before in _EN_DEGREE)
            and after_tag not in ("noun", "name")
            and "adj" in _readings(tokens[i])  # not "she becomes cook"
        ):
            fixed[i] = "adj"
    return fixed
