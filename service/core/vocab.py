"""Load the tag vocabulary (config/vocabulary/*.toml) and find its synonyms in tokenized text."""

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import simplemma

import config
from service.core.compounds import MIN_COMPOUND, Splitter, genre_head, strip_glue
from service.core.senses import Context, Sense, SenseError, expand_cues, parse_sense

LANGS = ("de", "en")
KINDS = frozenset({"genre", "theme", "profession", "sport", "setting", "event"})
KINDS |= {"relationship", "tone", "era"}
KW_PREFIX = "kw:"  # a keyword kept as it is
BORROWED_PREFIX = "kwb:"  # a keyword borrowed from films whose plot reads alike (core.borrow)
GENRE_PREFIX = "genre:"  # a film's own genre, as a similarity family (tagging.tag_vector)
TITLE_PREFIX = "title:"  # a word of the title
PLOT_PREFIX = "plot:"  # a telling word of the plot or a review (service.core.plot)
PLOT_LABELS = {"de": "Ähnliche Handlung", "en": "Similar plot"}  # one chip for all such words
# a shared title word says where it comes from: "Red" alone reads like a theme
TITLE_LABELS = {"de": "Titel „{}“", "en": "Title “{}”"}
_VOCAB_PREFIXES = ("", GENRE_PREFIX)
STRONG, WEAK = 1.0, 0.5
_TAG_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_WORD = re.compile(r"[^\W_]+")
_NOT = re.compile(r"n[’']t\b")
_TAG_KEYS = {"kind", "labels", "parents", "tmdb", "en", "de", "en_weak", "de_weak", "senses"}
_MIN_PART = 4  # shortest vocabulary word that may match inside a compound


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


@dataclass(frozen=True, eq=False)
class _Pattern:
    text: str  # the synonym, lowercased, words joined by one space
    keys: tuple[frozenset[str], ...]  # per word: its lemma variants
    tags: tuple[tuple[str, float], ...]
    senses: dict[str, Sense]  # tag -> the sense this synonym needs for it


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


class Vocabulary:
    """Canonical tags with their synonym index and the TMDB genre/keyword mappings."""

    def __init__(self, data: dict, source: str = "<vocabulary>"):
        self.tags: dict[str, Tag] = {}
        self._patterns: dict[str, dict[str, dict[str, float]]] = {lang: {} for lang in LANGS}
        self._genre_names: dict[str, list[str]] = {}
        self._keywords: dict[str, list[str]] = {}
        self.unmapped: dict[str, str] = {}  # TMDB keyword -> why it deliberately maps to no tag
        self.ignored: dict[str, str] = {}  # keyword -> why it is not about the story (no kw:)
        # per language: a single word's key -> its strong (tag, sense or None) pairs
        self._single: dict[str, dict[str, tuple[tuple[str, Sense | None], ...]]] = {}
        self._senses: dict[str, dict[tuple[str, str], Sense]] = {lang: {} for lang in LANGS}
        self._parse(data, source)
        self._index = {lang: self._build_index(lang) for lang in LANGS}
        self._splitter = Splitter(self._single["de"])
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
            for raw in spec.get("senses", []):
                self._add_sense(tag_id, raw, fail)
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
        for table in ("unmapped", "ignored"):
            for keyword, reason in data.get(table, {}).items():
                if not isinstance(reason, str) or not reason.strip():
                    fail(f"{table} keyword {keyword!r}: give the reason as a string")
                key = keyword.strip().lower()
                if table == "ignored" and (self._keywords.get(key) or key in self.unmapped):
                    fail(f"ignored keyword {keyword!r} is mapped or unmapped as well")
                getattr(self, table)[key] = reason.strip()

    def _check_cycle(self, tag_id: str, path: tuple[str, ...], fail) -> None:
        if tag_id in path:
            fail(f"parent cycle {' -> '.join(path + (tag_id,))}")
        for parent in self.tags[tag_id].parents:
            self._check_cycle(parent, path + (tag_id,), fail)

    def _add_sense(self, tag_id: str, raw, fail) -> None:
        word, lang = (raw.get("word"), raw.get("lang")) if isinstance(raw, dict) else (None, None)
        if not isinstance(word, str) or lang not in LANGS:
            fail(f"tag {tag_id!r}: a sense needs a word and a lang ('de' or 'en'): {raw!r}")
        key = " ".join(tokenize(word.lower()))
        if tag_id not in self._patterns[lang].get(key, {}):
            fail(f"tag {tag_id!r}: sense word {word!r} is not one of its {lang} synonyms")
        if (key, tag_id) in self._senses[lang]:
            fail(f"tag {tag_id!r}: two senses for {word!r} ({lang})")
        try:
            sense = parse_sense(raw, len(key.split()), lambda p: self._phrase_keys(p, lang))
        except SenseError as exc:
            fail(f"tag {tag_id!r}: sense of {word!r}: {exc}")
        self._senses[lang][(key, tag_id)] = sense

    @staticmethod
    def _phrase_keys(phrase: str, lang: str) -> tuple[frozenset[str], ...]:
        return tuple(pattern_keys(w, lang) for w in tokenize(phrase.lower()))

    def _add_pattern(self, lang: str, synonym: str, tag_id: str, weight: float) -> None:
        key = " ".join(tokenize(synonym.lower()))
        tag_weights = self._patterns[lang].setdefault(key, {})
        tag_weights[tag_id] = max(weight, tag_weights.get(tag_id, 0.0))

    def _build_index(self, lang: str) -> dict[str, list[_Pattern]]:
        """Index synonyms by their first word's keys, and phrases by their first two words'."""
        index: dict[str, list[_Pattern]] = {}
        senses = self._senses[lang]
        self._single[lang] = {}
        for text, tag_weights in sorted(self._patterns[lang].items()):
            keys = tuple(pattern_keys(w, lang) for w in text.split())
            own = {t: senses[(text, t)] for t in tag_weights if (text, t) in senses}
            pattern = _Pattern(text, keys, tuple(sorted(tag_weights.items())), own)
            if len(keys) == 1:
                strong = tuple((t, own.get(t)) for t, w in pattern.tags if w == STRONG)
                for key in keys[0]:
                    index.setdefault(key, []).append(pattern)
                    if strong and len(key) >= _MIN_PART:
                        self._single[lang][key] = strong
            else:
                for first in keys[0]:
                    for second in keys[1]:
                        index.setdefault(f"{first} {second}", []).append(pattern)
        return index

    # -- public API ----------------------------------------------------------------------------

    def label(self, tag_id: str, lang: str = "de") -> str:
        """Return the display label of a tag id, also of the family-prefixed ids in vectors.

        `genre:x` gives x's label; `kw:<keyword>` gives the label of the most specific tag the
        keyword maps to (so a keyword and its tag show as one chip), else the keyword itself;
        `title:<word>` gives the word capitalized and quoted (Titel „Terminator“); `plot:<word>` gives "similar plot", the
        same for every word, and so does a borrowed keyword; an unknown id gives the id back.
        """
        prefix, rest = _split_prefix(tag_id)
        if prefix in (PLOT_PREFIX, BORROWED_PREFIX):
            return PLOT_LABELS.get(lang, PLOT_LABELS["en"])
        if prefix == KW_PREFIX:
            mapped = self.map_keyword(rest)
            children = {t for t in mapped for p in mapped if t in self.tags[p].parents}
            specific = [t for t in mapped if t not in children]
            return self.tags[specific[0]].labels[lang] if specific and lang in LANGS else rest
        if prefix == TITLE_PREFIX:
            return TITLE_LABELS.get(lang, TITLE_LABELS["en"]).format(rest.capitalize())
        tag = self.tags.get(rest) if prefix in _VOCAB_PREFIXES else None
        if tag is None:
            return tag_id
        return tag.labels.get(lang) or tag.labels["en"]

    def kind(self, tag_id: str) -> str:
        """Return a tag id's kind: the vocabulary kind, "keyword" for `kw:`, "title", or "unknown"."""
        prefix, rest = _split_prefix(tag_id)
        if prefix in _VOCAB_PREFIXES and rest in self.tags:
            return self.tags[rest].kind
        return {KW_PREFIX: "keyword", TITLE_PREFIX: "title", PLOT_PREFIX: "plot"}.get(
            prefix, "unknown"
        )

    def map_genre(self, name: str) -> list[str]:
        """Return the vocabulary tags for a genre name (TMDB English or German); [] if none."""
        found = self._genre_names.get(name.strip().lower())
        if found:
            return sorted(set(found))
        return self._match_phrase(name)

    def ignores_keyword(self, name: str) -> bool:
        """Whether a keyword says nothing about the story: it gives no tag, no `kw:` entry."""
        return name.strip().lower() in self.ignored

    def map_keyword(self, name: str) -> list[str]:
        """Return the vocabulary tags for a (TMDB) keyword; [] if none or deliberately unmapped."""
        key = name.strip().lower()
        if key not in self._keyword_cache:
            listed = key in self.unmapped or key in self.ignored
            explicit = [] if listed else self._keywords.get(key)
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

    def find(self, tokens: list[str], lang: str, sentence: list[str] | None = None) -> list[Match]:
        """Return the synonym matches in tokens, longest match first, German compounds split.

        Synonyms with a sense rule count only where the clause (tokens) and its sentence (all
        its words) give them that sense; the longest synonym that does wins. Without a sentence
        the tokens are a name (a keyword, a genre): only set phrases and compound rules apply.
        """
        index = self._index[lang]
        keys = [word_keys(t, lang) for t in tokens]
        context = _LazyContext(tokens, keys, lang, sentence)
        matches, i, n_tokens = [], 0, len(tokens)
        while i < n_tokens:
            found: dict[int, list[_Pattern]] = {}
            candidates = [index[key] for key in keys[i] if key in index]
            if i + 1 < n_tokens:
                pairs = (f"{a} {b}" for a in keys[i] for b in keys[i + 1])
                candidates += [index[pair] for pair in pairs if pair in index]
            if candidates:
                seen = set()
                for patterns in candidates:
                    for p in patterns:
                        n = len(p.keys)
                        if id(p) in seen or i + n > n_tokens:
                            continue
                        seen.add(id(p))
                        if all(keys[i + j] & p.keys[j] for j in range(1, n)):
                            found.setdefault(n, []).append(p)
            if found:
                length, tags = self._best_sense(found, tokens, i, context)
                tags = genre_head(self, lang, tokens[i : i + length], i, tags, context)
                if length:
                    matches.append(Match(i, i + length, tags, " ".join(tokens[i : i + length])))
                    i += length
                    continue
            elif lang == "de" and len(tokens[i]) >= MIN_COMPOUND and tokens[i][0].isupper():
                # only nouns (capitalized) are split, as verbs split into misleading parts
                tags = self._compound_tags(tokens[i], i, context)
                if tags:
                    matches.append(Match(i, i + 1, tags, tokens[i]))
            i += 1
        return matches

    @staticmethod
    def _best_sense(found: dict[int, list[_Pattern]], tokens: list[str], i: int, context):
        """Return (length, tags) of the longest synonyms at i whose senses the context allows.

        A tag's synonym spelled as in the text decides ("Liebe" is the synonym "liebe", not
        "lieben", whose lemma it shares); else any synonym of it matching here may refuse it.
        """
        for n in sorted(found, reverse=True):
            surface = " ".join(tokens[i : i + n]).lower()
            exact = {t for p in found[n] if p.text == surface for t, _ in p.tags}
            tags: dict[str, float] = {}
            refused: set[str] = set()
            for p in found[n]:
                for tag, w in p.tags:
                    if tag in exact and p.text != surface:
                        continue
                    sense = p.senses.get(tag)
                    if sense is not None and not context.get().allows(sense, i, i + n):
                        refused.add(tag)
                    tags[tag] = max(w, tags.get(tag, 0.0))
            kept = tuple(sorted((t, w) for t, w in tags.items() if t not in refused))
            if kept:
                return n, kept
        return 0, ()

    # -- German compounds ----------------------------------------------------------------------

    def _compound_tags(
        self, word: str, at: int, context: "_LazyContext"
    ) -> tuple[tuple[str, float], ...]:
        """Return strong tags of vocabulary words found among the parts of a German compound.

        A run of parts that ends the word is its head (Feuerwehr|mann: mann); senses can
        keep a word to heads (Doktor|arbeit is a thesis) or out of compounds (Team|geist).
        """
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
                candidates = [span] if b == len(parts) else [span, *strip_glue(span)]
                hit = next((single[c] for c in candidates if c in single), None)
                part = "head" if b == len(parts) else "modifier"
                if hit:
                    found.update(
                        (tag, STRONG)
                        for tag, sense in hit
                        if sense is None
                        or context.get().allows(sense, at, at + 1, part, "".join(parts[b : b + 1]))
                    )
                    a = b
                    break
            else:
                a += 1
        return tuple(sorted(found.items()))

    def _split(self, word: str, glued: bool = False) -> tuple[str, ...] | None:
        return self._splitter.split(word, glued)  # head last: service/core/compounds.py


class _LazyContext:
    """Build the sense Context of a clause only when a synonym with a sense rule matched."""

    def __init__(self, tokens, keys, lang, sentence):
        self._args, self._context = (tokens, keys, lang, sentence), None

    def get(self) -> Context:
        if self._context is None:
            tokens, keys, lang, sentence = self._args
            whole = None if sentence is None else (lambda: [word_keys(t, lang) for t in sentence])
            self._context = Context(tokens, keys, lang, whole)
        return self._context


def _split_prefix(tag_id: str) -> tuple[str, str]:
    head, sep, rest = tag_id.partition(":")
    return (head + sep, rest) if sep else ("", tag_id)


def default_path() -> Path:
    """Return the config/vocabulary folder beside config/__init__.py."""
    return Path(config.__file__).with_name("vocabulary")


def load_vocabulary(path: str | None = None, senses: bool = True) -> Vocabulary:
    """Load and validate a vocabulary (a .toml file or a folder of them), cached per path.

    The default is config/vocabulary/: its files are read in name order and merged; a tag
    or a keyword defined in two files is an error. senses=False drops the sense rules
    (to measure what they do: bench/tagging.py, tests/test_senses.py).
    """
    return _load(str(Path(path).resolve()) if path else str(default_path()), senses)


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
def _load(path: str, senses: bool) -> Vocabulary:
    where = Path(path)
    files = sorted(where.glob("*.toml")) if where.is_dir() else [where]
    if not files:
        raise VocabularyError(f"{path}: no .toml files")
    data = expand_cues(_merge(files), VocabularyError)
    if not senses:
        for spec in data.get("tags", {}).values():
            spec.pop("senses", None)
    return Vocabulary(data, source=path)
