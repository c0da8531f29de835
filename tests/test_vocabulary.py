"""Structural checks of the tag vocabulary (config/vocabulary/*.toml) and its TMDB keyword coverage."""

import csv
import json
import tomllib
from collections import Counter, defaultdict

import pytest

from service.core.tagging import extract_tags
from service.core.vocab import (
    KINDS,
    LANGS,
    VocabularyError,
    default_path,
    load_vocabulary,
    tokenize,
)

VOCAB_DIR = default_path()
MIN_TAGS = 600
MIN_FILMS = 15  # keywords held by at least this many TMDB films must be covered


def _raw_files() -> dict[str, dict]:
    return {
        p.name: tomllib.loads(p.read_text(encoding="utf-8"))
        for p in sorted(VOCAB_DIR.glob("*.toml"))
    }


RAW = _raw_files()
TAGS = {tag_id: spec for data in RAW.values() for tag_id, spec in data.get("tags", {}).items()}


def _norm(word: str) -> str:
    """The synonym as the loader keys it: lowercased words joined by one space ("U-Boot" = "u boot")."""
    return " ".join(tokenize(word.lower()))


def _sense_words(spec: dict, lang: str) -> set[str]:
    """Allow-list hook: the words a tag has a word-sense rule for (its `senses` entries).

    A synonym may be claimed by two tags only if both carry a sense entry for it, so that the
    sense rules decide which tag a mention means. Entries are {word, lang, ...} tables; a bare
    string counts for both languages.
    """
    words = set()
    for entry in spec.get("senses", []):
        if isinstance(entry, str):
            words.add(_norm(entry))
        elif isinstance(entry, dict) and entry.get("lang", lang) == lang and entry.get("word"):
            words.add(_norm(entry["word"]))
    return words


def test_no_tag_defined_twice_across_files():
    counts = Counter(tag_id for data in RAW.values() for tag_id in data.get("tags", {}))
    assert [t for t, n in counts.items() if n > 1] == []


def test_at_least_600_tags_of_the_allowed_kinds():
    assert len(TAGS) >= MIN_TAGS
    assert {spec["kind"] for spec in TAGS.values()} <= KINDS
    assert len(load_vocabulary().tags) == len(TAGS)


@pytest.mark.parametrize("tag_id", sorted(TAGS))
def test_labels_and_synonyms_in_both_languages(tag_id):
    spec = TAGS[tag_id]
    labels = spec.get("labels", {})
    for lang in LANGS:
        assert isinstance(labels.get(lang), str) and labels[lang].strip(), (
            f"{tag_id}: no {lang} label"
        )
        if spec["kind"] != "genre":
            synonyms = spec.get(lang, []) + spec.get(f"{lang}_weak", [])
            assert synonyms, f"{tag_id}: no {lang} synonym"


def test_parents_exist_and_have_no_cycles():
    for tag_id, spec in TAGS.items():
        for parent in spec.get("parents", []):
            assert parent in TAGS, f"{tag_id}: unknown parent {parent!r}"
            assert parent != tag_id

    def ancestors(tag_id, path=()):
        assert tag_id not in path, f"parent cycle {' -> '.join(path + (tag_id,))}"
        for parent in TAGS[tag_id].get("parents", []):
            ancestors(parent, path + (tag_id,))

    for tag_id in TAGS:
        ancestors(tag_id)


def test_no_synonym_claimed_by_two_tags():
    """A synonym (strong or weak, same language) belongs to one tag, the most specific one.

    Exception (allow-list): every tag claiming it has a `senses` entry for that word.
    """
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for tag_id, spec in TAGS.items():
        for lang in LANGS:
            for key in (lang, f"{lang}_weak"):
                for word in spec.get(key, []):
                    owners[(lang, _norm(word))].add(tag_id)
    clashes = {
        f"{lang}:{word}": sorted(tags)
        for (lang, word), tags in owners.items()
        if len(tags) > 1 and not all(word in _sense_words(TAGS[t], lang) for t in tags)
    }
    assert clashes == {}


def test_keyword_tables():
    vocab = load_vocabulary()
    for name, data in RAW.items():
        for keyword, reason in data.get("unmapped", {}).items():
            assert keyword == keyword.strip().lower(), f"{name}: write {keyword!r} lowercased"
            assert isinstance(reason, str) and reason.strip(), f"{name}: {keyword!r} needs a reason"
            # an unmapped keyword must really give no tag, or its reason is stale
            assert vocab.map_keyword(keyword) == [], f"{keyword!r} is [unmapped] but maps to a tag"
        for keyword, tags in data.get("keywords", {}).items():
            assert keyword == keyword.strip().lower(), f"{name}: write {keyword!r} lowercased"
            assert all(t in TAGS for t in tags), f"{name}: {keyword!r} names an unknown tag"


def _tmdb_keyword_counts(path) -> Counter:
    counts: Counter = Counter()
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names = {k["name"].strip().lower() for k in json.loads(row.get("keywords") or "[]")}
            counts.update(names)
    return counts


def test_frequent_tmdb_keywords_are_mapped_or_explained(tmdb_csv):
    vocab = load_vocabulary()
    frequent = [k for k, n in _tmdb_keyword_counts(tmdb_csv).items() if n >= MIN_FILMS]
    assert len(frequent) > 300  # the data set really is TMDB 5000
    explained = set(vocab.unmapped) | set(vocab.ignored)
    missing = sorted(k for k in frequent if not vocab.map_keyword(k) and k not in explained)
    assert missing == []


def test_ignored_keywords_leave_no_trace():
    """A production detail ("woman director") gives a film no tag and no kw: entry, so two
    films sharing it are not related by it and no chip names it; an unmapped keyword stays."""
    vocab = load_vocabulary()
    film = {"genres": ["Drama"], "keywords": ["woman director", "3D", "bank", "grief"]}
    tags = extract_tags(film, [], vocab)
    assert "kw:woman director" not in tags and "kw:3d" not in tags
    assert {"kw:bank", "kw:grief", "grief"} <= set(tags)
    assert vocab.ignores_keyword(" Woman Director ") and not vocab.ignores_keyword("bank")


def test_a_keyword_is_not_ignored_and_mapped_at_once(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text(
        '[tags.grief]\nkind = "theme"\nlabels = { de = "Trauer", en = "Grief" }\n'
        'en = ["grief"]\nde = ["trauer"]\n'
        '[keywords]\n"sorrow" = ["grief"]\n[ignored]\n"sorrow" = "a production detail"\n'
    )
    with pytest.raises(VocabularyError, match="sorrow"):
        load_vocabulary(str(path))


@pytest.mark.parametrize(
    "keyword, expected",
    [
        ("fire", set()),  # not firefighter
        ("doctor", {"doctor", "medical"}),
        ("boxer", {"boxing"}),
        ("new york", {"new-york"}),
        ("father son relationship", {"father-son"}),
        ("brother sister relationship", {"siblings"}),
        ("nudity", set()),
        ("training", set()),  # not the train
        ("home invasion", {"home-invasion"}),  # not war
        ("cult film", {"cult-classic"}),  # not religion
        ("loss of lover", {"grief"}),
    ],
)
def test_keyword_mappings_that_went_wrong_before(keyword, expected):
    assert set(load_vocabulary().map_keyword(keyword)) == expected
