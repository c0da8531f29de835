"""Load the tag vocabulary (config/vocabulary/*.toml) and find its synonyms in tokenized text."""

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import simplemma

import config

LANGS = ("de", "en")
KINDS = frozenset(
    {"genre", "theme", "profession", "sport", "setting", "event", "relationship", "tone", "era"}
)
KW_PREFIX = "kw:"  # a keyword kept as it is
GENRE_PREFIX = "genre:"  # a film's own genre, as a similarity family (workers.tagging.tag_vector)
TITLE_PREFIX = "title:"  # a word of the title
_VOCAB_PREFIXES = ("", GENRE_PREFIX)
STRONG, WEAK = 1.0, 0.5
_TAG_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_WORD = re.compile(r"[^\W_]+")
_NOT = re.compile(r"n[’']t\b")
_TAG_KEYS = {"kind", "labels", "parents", "tmdb", "en", "de", "en_weak", "de_weak"}
_GLUES = ("ens", "es", "en", "er", "e", "n", "s")  # German linking elements (Fugenelemente)
_MIN_PART = 4  # shortest vocabulary word that may match inside a compound
_MIN_COMPOUND = 8  # shorter German words are not split
_MIN_PART_LEN = 3  # shortest part of a split compound


class VocabularyError(ValueError):
    """The vocabulary file is malformed (unknown parent, bad kind, ...)."""


@dataclass(frozen=True)
class Tag:
    id: str
    kind: str
    labels: dict[str, str]
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    start: int  # token span [start, end)
    end: int
    tags: tuple[tuple[str, float], ...]  # (tag id, STRONG or WEAK)
    surface: str


@dataclass(frozen=True)
class _Pattern:
    keys: tuple[frozenset[str], ...]  # per word: its lemma variants
    tags: tuple[tuple[str, float], ...]


def tokenize(text: str) -> list[str]:
    """Return the words of text ("isn't" gives "is", "not"; hyphens split words)."""
    return _WORD.findall(_NOT.sub(" not", text))


@lru_cache(maxsize=300_000)
def word_keys(word: str, lang: str) -> frozenset[str]:
    """Return the lowercased word and its simplemma lemmas, the keys synonyms are matched on."""
    low = word.lower()
    # German nouns are capitalized, and simplemma's German lemmas depend on it.
    cased = word[:1].upper() + word[1:] if lang == "de" else word
    lemmas = {simplemma.lemmatize(w, lang=lang).lower() for w in (low, cased)}
    # Suppletive lemmas (was -> be, ai -> be) would make unrelated words collide.
    return frozenset({low} | {lemma for lemma in lemmas if lemma[:2] == low[:2]})


def pattern_keys(word: str, lang: str) -> frozenset[str]:
    """Return the keys of a synonym's word: fewer than a text word's, so "planet" misses "plant"."""
    low = word.lower()
    cased = low[:1].upper() + low[1:] if lang == "de" else low
    lemma = simplemma.lemmatize(cased, lang=lang).lower()
    return frozenset({low, lemma} if lemma[:2] == low[:2] else {low})


@lru_cache(maxsize=100_000)
def _known_de(word: str) -> bool:
    return simplemma.is_known(word, lang="de") or simplemma.is_known(word.capitalize(), lang="de")


class Vocabulary:
    """Canonical tags with their synonym index and the TMDB genre/keyword mappings."""

    def __init__(self, data: dict, source: str = "<vocabulary>"):
        self.tags: dict[str, Tag] = {}
        self._patterns: dict[str, dict[str, dict[str, float]]] = {lang: {} for lang in LANGS}
        self._genre_names: dict[str, list[str]] = {}
        self._keywords: dict[str, list[str]] = {}
        self.unmapped: dict[str, str] = {}  # TMDB keyword -> why it deliberately maps to no tag
        self._single: dict[str, dict[str, tuple[tuple[str, float], ...]]] = {}
        self._parse(data, source)
        self._index = {lang: self._build_index(lang) for lang in LANGS}
        self._parts_cache: dict[tuple[str, bool], tuple[str, ...] | None] = {}
        self._keyword_cache: dict[str, list[str]] = {}

    # -- loading -------------------------------------------------------------------------------

    def _parse(self, data: dict, source: str) -> None:
        def fail(msg: str) -> None:
            raise VocabularyError(f"{source}: {msg}")

        tags = data.get("tags")
        if not isinstance(tags, dict) or not tags:
            fail("no [tags.<id>] tables")
        for tag_id, spec in tags.items():
            if not _TAG_ID.match(tag_id):
                fail(f"tag id {tag_id!r} is not a lowercase slug")
            unknown = set(spec) - _TAG_KEYS
            if unknown:
                fail(f"tag {tag_id!r}: unknown keys {sorted(unknown)}")
            if spec.get("kind") not in KINDS:
                fail(
                    f"tag {tag_id!r}: kind must be one of {sorted(KINDS)}, not {spec.get('kind')!r}"
                )
            labels = spec.get("labels", {})
            if not all(isinstance(labels.get(lang), str) and labels[lang] for lang in LANGS):
                fail(f"tag {tag_id!r}: labels need non-empty 'de' and 'en'")
            parents = spec.get("parents", [])
            for parent in parents:
                if parent not in tags:
                    fail(f"tag {tag_id!r}: unknown parent {parent!r}")
            self.tags[tag_id] = Tag(tag_id, spec["kind"], dict(labels), tuple(parents))
            for lang in LANGS:
                for key, weight in ((lang, STRONG), (f"{lang}_weak", WEAK)):
                    for synonym in spec.get(key, []):
                        if not isinstance(synonym, str) or not tokenize(synonym):
                            fail(f"tag {tag_id!r}: bad synonym {synonym!r} in {key}")
                        self._add_pattern(lang, synonym, tag_id, weight)
            if spec["kind"] == "genre":
                names = [spec.get("tmdb", ""), labels["de"], labels["en"]]
                for name in filter(None, names):
                    self._genre_names.setdefault(name.strip().lower(), []).append(tag_id)
        for tag_id in self.tags:
            self._check_cycle(tag_id, (), fail)
        for keyword, tag_ids in data.get("keywords", {}).items():
            for tag_id in tag_ids:
                if tag_id not in self.tags:
                    fail(f"keyword {keyword!r}: unknown tag {tag_id!r}")
            self._keywords[keyword.strip().lower()] = sorted(set(tag_ids))
        for keyword, reason in data.get("unmapped", {}).items():
            if not isinstance(reason, str) or not reason.strip():
                fail(f"unmapped keyword {keyword!r}: give the reason as a string")
            self.unmapped[keyword.strip().lower()] = reason.strip()

    def _check_cycle(self, tag_id: str, path: tuple[str, ...], fail) -> None:
        if tag_id in path:
            fail(f"parent cycle {' -> '.join(path + (tag_id,))}")
        for parent in self.tags[tag_id].parents:
            self._check_cycle(parent, path + (tag_id,), fail)

    def _add_pattern(self, lang: str, synonym: str, tag_id: str, weight: float) -> None:
        key = " ".join(tokenize(synonym.lower()))
        tag_weights = self._patterns[lang].setdefault(key, {})
        tag_weights[tag_id] = max(weight, tag_weights.get(tag_id, 0.0))

    def _build_index(self, lang: str) -> dict[str, list[_Pattern]]:
        index: dict[str, list[_Pattern]] = {}
        for text, tag_weights in sorted(self._patterns[lang].items()):
            keys = tuple(pattern_keys(w, lang) for w in text.split())
            pattern = _Pattern(keys, tuple(sorted(tag_weights.items())))
            for key in keys[0]:
                index.setdefault(key, []).append(pattern)
        self._single[lang] = {}
        for patterns in index.values():
            for p in patterns:
                if len(p.keys) == 1:
                    for key in p.keys[0]:
                        strong = tuple((t, w) for t, w in p.tags if w == STRONG)
                        if strong and len(key) >= _MIN_PART:
                            self._single[lang][key] = strong
        return index

    # -- public API ----------------------------------------------------------------------------

    def label(self, tag_id: str, lang: str = "de") -> str:
        """Return the display label of a tag id, also of the family-prefixed ids in vectors.

        `genre:x` gives x's label; `kw:<keyword>` gives, in German, the label of the
        most specific tag the keyword maps to, else (and in English) the keyword itself;
        `title:<word>` gives the word capitalized; an unknown id gives the id back.
        """
        prefix, rest = _split_prefix(tag_id)
        if prefix == KW_PREFIX:
            mapped = self.map_keyword(rest) if lang != "en" else []
            children = {t for t in mapped for p in mapped if t in self.tags[p].parents}
            specific = [t for t in mapped if t not in children]
            return self.tags[specific[0]].labels[lang] if specific and lang in LANGS else rest
        if prefix == TITLE_PREFIX:
            return rest.capitalize()
        tag = self.tags.get(rest) if prefix in _VOCAB_PREFIXES else None
        if tag is None:
            return tag_id
        return tag.labels.get(lang) or tag.labels["en"]

    def kind(self, tag_id: str) -> str:
        """Return a tag id's kind: the vocabulary kind, "keyword" for `kw:`, "title", or "unknown"."""
        prefix, rest = _split_prefix(tag_id)
        if prefix in _VOCAB_PREFIXES and rest in self.tags:
            return self.tags[rest].kind
        return {KW_PREFIX: "keyword", TITLE_PREFIX: "title"}.get(prefix, "unknown")

    def map_genre(self, name: str) -> list[str]:
        """Return the vocabulary tags for a genre name (TMDB English or German); [] if none."""
        found = self._genre_names.get(name.strip().lower())
        if found:
            return sorted(set(found))
        return self._match_phrase(name)

    def map_keyword(self, name: str) -> list[str]:
        """Return the vocabulary tags for a (TMDB) keyword; [] if none."""
        key = name.strip().lower()
        if key not in self._keyword_cache:
            explicit = self._keywords.get(key)
            self._keyword_cache[key] = explicit if explicit is not None else self._match_phrase(key)
        return list(self._keyword_cache[key])

    def _match_phrase(self, text: str) -> list[str]:
        """Return tags of a short phrase: English synonyms first, German if English finds none."""
        tokens = tokenize(text)
        for lang in ("en", "de"):
            found = {t for m in self.find(tokens, lang) for t, _ in m.tags}
            if found:
                return sorted(found)
        return []

    def find(self, tokens: list[str], lang: str) -> list[Match]:
        """Return the synonym matches in tokens, longest match first, German compounds split."""
        index = self._index[lang]
        keys = [word_keys(t, lang) for t in tokens]
        matches, i = [], 0
        while i < len(tokens):
            best_len, best_tags = 0, {}
            seen = set()
            for key in keys[i]:
                for p in index.get(key, ()):
                    n = len(p.keys)
                    if id(p) in seen or n < best_len or i + n > len(tokens):
                        continue
                    seen.add(id(p))
                    if all(keys[i + j] & p.keys[j] for j in range(1, n)):
                        if n > best_len:
                            best_len, best_tags = n, {}
                        for tag, w in p.tags:
                            best_tags[tag] = max(w, best_tags.get(tag, 0.0))
            if best_len:
                surface = " ".join(tokens[i : i + best_len])
                matches.append(Match(i, i + best_len, tuple(sorted(best_tags.items())), surface))
                i += best_len
                continue
            if lang == "de" and len(tokens[i]) >= _MIN_COMPOUND and tokens[i][0].isupper():
                # only nouns (capitalized) are split, as verbs split into misleading parts
                tags = self._compound_tags(tokens[i])
                if tags:
                    matches.append(Match(i, i + 1, tags, tokens[i]))
            i += 1
        return matches

    # -- German compounds ----------------------------------------------------------------------

    def _compound_tags(self, word: str) -> tuple[tuple[str, float], ...]:
        """Return strong tags of vocabulary words found among the parts of a German compound."""
        lemma = simplemma.lemmatize(word[:1].upper() + word[1:], lang="de").lower()
        # simplemma may garble an unknown compound (Krankenhausserie -> krankenhaußerie)
        parts = self._split(lemma) or self._split(word.lower())
        if not parts or len(parts) < 2:
            return ()
        single = self._single["de"]
        found: dict[str, float] = {}
        a = 0
        while a < len(parts):
            for b in range(len(parts), a, -1):
                if b - a == len(parts):
                    continue  # the whole word already failed to match
                span = "".join(parts[a:b])
                candidates = [span] if b == len(parts) else [span, *_strip_glue(span)]
                hit = next((single[c] for c in candidates if c in single), None)
                if hit:
                    found.update(hit)
                    a = b
                    break
            else:
                a += 1
        return tuple(sorted(found.items()))

    def _split(self, word: str, glued: bool = False) -> tuple[str, ...] | None:
        """Split a German word into at least two known words (None if it has no such split).

        Dynamic programming over the word: a part is a word that simplemma's German lexicon or
        the vocabulary knows; a part followed by another may end in a linking element
        (Behandlung+s). Fewest parts win, then parts that are vocabulary words, then longer
        parts. Long parts that are not vocabulary words are split again: finer parts are harmless,
        since `_compound_tags` matches runs of adjacent parts (kranken|haus|personal still
        gives "krankenhaus").
        glued: the word itself precedes another part, so its last part may carry a linking element.
        """
        key = (word, glued)
        if key not in self._parts_cache:
            parts = self._segment(word, glued)
            if parts:
                last = len(parts) - 1
                parts = tuple(
                    sub
                    for i, part in enumerate(parts)
                    for sub in (
                        (
                            len(part) >= _MIN_COMPOUND
                            and not self._part_kind(part, glued or i < last)
                            and self._split(part, glued or i < last)
                        )
                        or (part,)
                    )
                )
            self._parts_cache[key] = parts
        return self._parts_cache[key]

    def _segment(self, word: str, glued: bool) -> tuple[str, ...] | None:
        n = len(word)
        # best[i] = (cost, parts) of the best split of word[i:]; costs compare as tuples
        best: list[tuple | None] = [None] * (n + 1)
        best[n] = ((0, 0, 0), ())
        for i in range(n - _MIN_PART_LEN, -1, -1):
            for j in range(i + _MIN_PART_LEN, n + 1):
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
        forms = [part, *_strip_glue(part)] if glue else [part]
        if any(f in self._single["de"] for f in forms):
            return True
        if any(_known_de(f) for f in forms):
            return False
        return None


def _split_prefix(tag_id: str) -> tuple[str, str]:
    head, sep, rest = tag_id.partition(":")
    return (head + sep, rest) if sep else ("", tag_id)


def _strip_glue(word: str) -> list[str]:
    return [word[: -len(g)] for g in _GLUES if word.endswith(g) and len(word) - len(g) >= 3]


def default_path() -> Path:
    """Return the config/vocabulary folder beside config/__init__.py."""
    return Path(config.__file__).with_name("vocabulary")


def load_vocabulary(path: str | None = None) -> Vocabulary:
    """Load and validate a vocabulary (a .toml file or a folder of them), cached per path.

    The default is config/vocabulary/: its files are read in name order and merged; a tag
    or a keyword defined in two files is an error.
    """
    return _load(str(Path(path).resolve()) if path else str(default_path()))


def _read_toml(path: Path) -> dict:
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise VocabularyError(f"{path}: {exc}") from exc


def _merge(files: list[Path]) -> dict:
    merged: dict[str, dict] = {}
    for path in files:
        for section, table in _read_toml(path).items():
            if not isinstance(table, dict):
                raise VocabularyError(f"{path}: [{section}] is not a table")
            into = merged.setdefault(section, {})
            twice = sorted(set(into) & set(table))
            if twice:
                raise VocabularyError(f"{path}: [{section}] {twice[:5]} already defined")
            into.update(table)
    return merged


@lru_cache(maxsize=8)
def _load(path: str) -> Vocabulary:
    where = Path(path)
    files = sorted(where.glob("*.toml")) if where.is_dir() else [where]
    if not files:
        raise VocabularyError(f"{path}: no .toml files")
    return Vocabulary(_merge(files), source=path)
