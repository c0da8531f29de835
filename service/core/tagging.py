"""Extract weighted vocabulary tags from a film's genres, keywords, synopses and reviews (pure)."""

import math
import re
from functools import lru_cache

import simplemma

from service.core.mentions import (
    ASIDE,
    ASIDE_KINDS,
    ELSEWHERE_KINDS,
    HEDGED,
    cast,
    elsewhere,
    goes_back,
    likeness,
    mention_factor,
    retired,
    role_play,
    scare_quoted,
    since_then,
    studied,
    threatened,
)
from service.core.plot import film_plot_words
from service.core.sentences import excerpt, split_sentences
from service.core.vocab import (
    GENRE_PREFIX,
    KW_PREFIX,
    LANGS,
    TITLE_PREFIX,
    WEAK,
    Tag,
    Vocabulary,
    load_vocabulary,
    tokenize,
    word_keys,
)

REVIEW_FACTOR = 0.5  # review tags weigh at most half of the film's own
PARENT_FACTOR = 0.5  # per generation
MAX_EVIDENCE = 5
MAX_EXCERPTS = 3  # sentences kept per tag, so an editor can see why it fired
_CLAUSE = re.compile(r"[.!?;:,()\[\]\"“”„«»–—\n]+")
_NO_TAG = Tag("", "", {}, ())
_FILM_OWN = frozenset({"genre", "pinned"})  # sources that make a genre-kind tag the film's genre
_TITLE_STOP = frozenset(
    {"the", "and", "for", "with", "from", "into", "over", "under", "all", "you", "your", "our"}
    | {"his", "her", "its", "who", "what", "when", "how", "not", "are", "was", "one", "two"}
    | {"part", "chapter", "episode", "movie", "film", "story", "tale", "returns", "day", "night"}
    | {"ii", "iii", "der", "die", "das", "und", "ein", "eine", "von", "mit", "den", "des", "dem"}
    | {"les", "la", "le", "del", "los", "las"}
)


@lru_cache(maxsize=256)  # extract_tags, then tag_vector, ask it of each synopsis and review
def detect_language(text: str, hint: str | None = None) -> str:
    """Return "de" or "en": the hint unless the text clearly reads as the other language."""
    scores = dict(simplemma.langdetect(text[:2000], lang=LANGS))
    best = max(LANGS, key=lambda lang: scores.get(lang, 0.0))
    top = scores.get(best, 0.0)
    if hint in LANGS and scores.get(hint, 0.0) >= top - 0.2:
        return hint
    return best if top > 0 else (hint if hint in LANGS else "en")


def extract_text(text: str, lang: str | None, vocab: Vocabulary) -> dict[str, dict]:
    """Return {tag: {"count", "evidence", "position", "excerpts"}} for one text.

    position is the first plain mention in [0, 1) (not negated, hedged, an aside or a place
    elsewhere), 1.0 if there is none; excerpts are up to MAX_EXCERPTS
    {"words", "text"}: the words matched in a sentence and that sentence, cut short.
    """
    lang = detect_language(text, lang)
    sentences = [
        (sentence, [tokenize(clause) for clause in _CLAUSE.split(sentence)])
        for sentence in split_sentences(text)
    ]
    total = sum(len(words) for _, clauses in sentences for words in clauses) or 1
    found: dict[str, dict] = {}
    asides: dict[str, float] = {}  # tag -> its largest aside, which is all asides count
    heads: dict[str, list[tuple[str, int]]] = {}  # tag -> (last word of a mention, where)
    loose: list[tuple[str, str, int, float, str]] = []  # weak mentions: see _corefer
    back = None  # whether the text tells of a return to work, read when needed
    offset = 0
    for sentence, clauses in sentences:
        whole = [word for words in clauses for word in words]
        lower = sentence.lower()
        seen: dict[str, dict] = {}  # tag -> its excerpt of this sentence
        for words in clauses:
            for match in vocab.find(words, lang, whole):
                if likeness(lower, match.surface):
                    continue
                factor = mention_factor(words, match.start)
                if (
                    studied(words, match.start, match.end)
                    or threatened(words, match.start, match.end)
                    or since_then(words, match.start)
                ):
                    factor *= HEDGED
                kinds = {tag: vocab.kind(tag) for tag, _ in match.tags}
                # a role, a nickname or the cast lowers professions only: read it only for them
                role = any(k in ASIDE_KINDS for k in kinds.values()) and (
                    role_play(words, match.start)
                    or scare_quoted(lower, match.surface)
                    or cast(words, match.start)
                )
                if not role and any(k in ASIDE_KINDS for k in kinds.values()):
                    if retired(words, match.start, match.end):
                        if back is None:
                            back = goes_back(text)
                        role = not back
                for tag, strength in match.tags:
                    plain = factor == 1.0  # the early bonus needs a plain mention
                    if kinds[tag] in ELSEWHERE_KINDS and elsewhere(
                        words, match.start, kinds[tag], lang
                    ):
                        strength *= HEDGED
                        plain = False
                    entry = found.setdefault(
                        tag, {"count": 0.0, "evidence": [], "position": 1.0, "excerpts": []}
                    )
                    aside = role and kinds[tag] in ASIDE_KINDS
                    if plain and not aside and entry["position"] == 1.0:
                        entry["position"] = (offset + match.start) / total
                    if aside:
                        # asides do not add up: a part played and a nickname are one aside
                        most = max(asides.get(tag, 0.0), factor * strength * ASIDE)
                        entry["count"] += most - asides.get(tag, 0.0)
                        asides[tag] = most
                    else:
                        entry["count"] += factor * strength
                    last, where = words[match.end - 1], offset + match.end
                    heads.setdefault(tag, []).append((last, where))
                    if strength == WEAK and not (role and kinds[tag] in ASIDE_KINDS):
                        loose.append((tag, last, where, factor * strength, match.surface))
                    if (
                        match.surface not in entry["evidence"]
                        and len(entry["evidence"]) < MAX_EVIDENCE
                    ):
                        entry["evidence"].append(match.surface)
                    _note_excerpt(entry, seen, tag, sentence, match.surface)
            offset += len(words)
    if loose:
        _corefer(found, heads, loose, vocab, lang)
    return found


@lru_cache(maxsize=20_000)
def _keys(word: str, lang: str) -> frozenset[str]:
    return word_keys(word, lang)


def _corefer(found: dict, heads: dict, loose: list, vocab: Vocabulary, lang: str) -> None:
    """Count a weak mention of a broad tag for its child when the child was named through
    the same word elsewhere in the text: "seine Tochter ... der Tochter" is the daughter of
    father-daughter both times, not also family-relations; "his son ... fathers, sons" is
    father-son. (One word giving both, "haunted" for haunted-house and horror, stays.)"""
    for tag, word, where, amount, surface in loose:
        keys = _keys(word, lang)
        children = sorted(
            c for c, seen in heads.items()
            if c in found and tag in vocab.tags.get(c, _NO_TAG).parents
            and any(at != where and keys & _keys(w, lang) for w, at in seen)
        )  # fmt: skip
        if not children or tag not in found:
            continue
        child = found[children[0]]
        found[tag]["count"] -= amount
        child["count"] += amount
        if surface not in child["evidence"] and len(child["evidence"]) < MAX_EVIDENCE:
            child["evidence"].append(surface)
        if found[tag]["count"] <= 1e-9:
            del found[tag]


def _note_excerpt(entry: dict, seen: dict, tag: str, sentence: str, surface: str) -> None:
    if tag in seen:
        if surface not in seen[tag]["words"]:
            seen[tag]["words"].append(surface)
    elif len(entry["excerpts"]) < MAX_EXCERPTS:
        seen[tag] = {"words": [surface], "text": excerpt(sentence, surface)}
        entry["excerpts"].append(seen[tag])


def mention_weight(count: float, position: float) -> float:
    """Weight a text's tag by how often it is mentioned (3 clear mentions saturate) and how early."""
    weight = 0.6 * math.sqrt(count) + (0.1 if position < 0.2 else 0.0)
    return min(1.0, weight)


def _noisy_or(weights: list[float]) -> float:
    return 1.0 - math.prod(1.0 - w for w in weights)


def item_names(items) -> list[str]:
    """Accept ["Drama"] as well as TMDB's [{"id": 18, "name": "Drama"}]."""
    names = (item.get("name", "") if isinstance(item, dict) else str(item) for item in items or [])
    return [n.strip() for n in names if n and n.strip()]


def _synopses(film: dict) -> list[tuple[str | None, str]]:
    synopsis = film.get("synopsis") or {}
    if isinstance(synopsis, str):
        return [(None, synopsis)]
    return [(lang, text) for lang, text in sorted(synopsis.items()) if text]


def texts_in_language(film: dict, reviews: list[dict] | None = None) -> tuple[list, list]:
    """Return a film's synopses and its reviews' bodies as (detected language, text) pairs."""
    synopses = [(detect_language(text, lang), text) for lang, text in _synopses(film)]
    said = [
        (detect_language(r.get("body") or "", r.get("language")), r.get("body") or "")
        for r in reviews or []
    ]
    return synopses, said


def extract_tags(
    film: dict, reviews: list[dict], vocab: Vocabulary | None = None
) -> dict[str, dict]:
    """Return {tag: {"weight", "sources", "evidence", "excerpts"}} for a film and its reviews.

    Sorted by tag. evidence: up to MAX_EVIDENCE words (genre and keyword names, matched
    synonyms, or a parent-only tag's children); excerpts: up to MAX_EXCERPTS
    {"source", "words", "text"}, the sentences of synopses and reviews the words came from.
    """
    vocab = vocab or load_vocabulary()
    direct: dict[str, dict[str, float]] = {}  # tag -> source -> weight
    evidence: dict[str, list[str]] = {}

    def add(tag: str, source: str, weight: float, words: list[str]) -> None:
        sources = direct.setdefault(tag, {})
        sources[source] = max(weight, sources.get(source, 0.0))
        seen = evidence.setdefault(tag, [])
        seen.extend(w for w in words if w not in seen)

    for name in item_names(film.get("genres")):
        for tag in vocab.map_genre(name) or [KW_PREFIX + name.lower()]:
            add(tag, "genre", 1.0, [name])
    for name in item_names(film.get("keywords")):
        if vocab.ignores_keyword(name):
            continue  # "woman director", "duringcreditsstinger": not what the film is about
        # the keyword itself stays: it is more specific than the vocabulary tags it maps to
        for tag in [KW_PREFIX + name.lower(), *vocab.map_keyword(name)]:
            add(tag, "keyword", 1.0, [name])
    excerpts: dict[str, list[dict]] = {}

    def quote(tag: str, source: str, hit: dict) -> None:
        kept = excerpts.setdefault(tag, [])
        room = MAX_EXCERPTS - len(kept)
        kept.extend({"source": source, **e} for e in hit["excerpts"][: max(0, room)])

    for lang, text in _synopses(film):
        for tag, hit in extract_text(text, lang, vocab).items():
            add(tag, "synopsis", mention_weight(hit["count"], hit["position"]), hit["evidence"])
            quote(tag, "synopsis", hit)
    per_review: dict[str, list[float]] = {}
    for review in reviews or []:
        for tag, hit in extract_text(
            review.get("body") or "", review.get("language"), vocab
        ).items():
            per_review.setdefault(tag, []).append(mention_weight(hit["count"], hit["position"]))
            evidence.setdefault(tag, [])
            evidence[tag].extend(w for w in hit["evidence"] if w not in evidence[tag])
            quote(tag, "review", hit)
    for tag, weights in sorted(per_review.items()):
        # one review saying something is weaker than several agreeing
        add(tag, "review", REVIEW_FACTOR * _noisy_or([0.8 * w for w in weights]), [])
    for tag in film.get("pinned_tags") or []:
        add(tag, "pinned", 1.0, [])

    weights = {tag: _noisy_or(list(src.values())) for tag, src in direct.items()}
    for tag in film.get("pinned_tags") or []:
        weights[tag] = 1.0
    inherited: dict[str, tuple[float, list[str]]] = {}
    for tag, weight in sorted(weights.items()):
        for parent, depth in _ancestors(vocab, tag):
            w = weight * PARENT_FACTOR**depth
            best, children = inherited.get(parent, (0.0, []))
            inherited[parent] = (max(best, w), children + [tag])

    blocked = set(film.get("blocked_tags") or [])
    result: dict[str, dict] = {}
    for tag in sorted(set(weights) | set(inherited)):
        if tag in blocked:
            continue
        sources = set(direct.get(tag, {}))
        weight = weights.get(tag, 0.0)
        if tag in inherited:
            weight = 1.0 if "pinned" in sources else _noisy_or([weight, inherited[tag][0]])
            sources.add("parent")
        words = evidence.get(tag) or inherited.get(tag, (0, []))[1]
        result[tag] = {
            "weight": round(min(1.0, max(weight, 1e-4)), 4),
            "sources": sorted(sources),
            "evidence": list(words[:MAX_EVIDENCE]),
            "excerpts": excerpts.get(tag, []),
        }
    return result


def _ancestors(vocab: Vocabulary, tag: str) -> list[tuple[str, int]]:
    """Return (ancestor, generation) pairs, nearest generation first, each ancestor once."""
    if tag not in vocab.tags:
        return []
    seen: dict[str, int] = {}
    frontier, depth = list(vocab.tags[tag].parents), 1
    while frontier:
        nxt = []
        for parent in frontier:
            if parent not in seen:
                seen[parent] = depth
                nxt.extend(vocab.tags[parent].parents)
        frontier, depth = nxt, depth + 1
    return sorted(seen.items(), key=lambda item: (item[1], item[0]))


def tag_vector(
    film: dict,
    tags: dict[str, dict],
    vocab: Vocabulary | None = None,
    reviews: list[dict] | None = None,
) -> dict[str, float]:
    """Return the similarity vector of a film's extracted tags: {tag: weight}.

    The similarity weighs each family (the prefix before ':') separately. Every extracted tag
    is in: `kw:<keyword>` as the `kw` family, vocabulary tags unprefixed (family "": themes,
    professions, settings, tones, parents, genres read in the text). Three families are added:
    `genre:<tag>` for the film's own genres, `title:<word>` for the words of its title
    (sequels and series share them), and `plot:<word>` for the telling words of its plots
    and reviews (service.core.plot).
    """
    vocab = vocab or load_vocabulary()
    vector = {tag: round(float(info["weight"]), 4) for tag, info in tags.items()}
    for tag, info in tags.items():
        if vocab.kind(tag) == "genre" and _FILM_OWN & set(info["sources"]):
            vector[GENRE_PREFIX + tag] = 1.0
    for word in tokenize(film.get("title") or ""):
        word = word.lower()
        if len(word) >= 3 and word.isalpha() and word not in _TITLE_STOP:
            vector.setdefault(TITLE_PREFIX + word, 1.0)
    vector.update(film_plot_words(*texts_in_language(film, reviews)))
    return vector
