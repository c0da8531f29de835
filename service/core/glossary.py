"""Gloss German text word by word into English, for the plot embedding (pure).

The embedding model (service/core/embedding.py) reads English: a German plot glossed word by word
("Feuerwehrfrau rettet" -> "firewoman rescue") lands near English plots of the same story,
where the German words themselves mostly do not. The glossary is a German word -> English
word or phrase table derived from the Ding dictionary (config/glossary/README.md says how);
`python -m service.core.glossary build /usr/share/trans/de-en` writes it anew.
"""

import gzip
import re
import sys
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import simplemma
import wordfreq

from service.core.compounds import MIN_COMPOUND, Splitter

GLOSSARY = Path(__file__).resolve().parents[2] / "config" / "glossary" / "de-en.tsv.gz"
_TOKEN = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|[.,;:!?]")
# words that carry grammar, not story: glossing them adds only "the", "and", "his"
STOPWORDS = frozenset(
    """aber als am an auch auf aus bei bis da dass dem den der des die dies diese diesem
    diesen dieser doch durch ein eine einem einen einer eines er es für gegen hat haben ich
    ihm ihn ihr ihre ihrem ihren ihrer im in ins ist man mit nach nicht noch nur oder ob
    ohne sein seine seinem seinen seiner sich sie sind so um und uns unter vom von vor war
    waren was wenn wer wie wird wo zu zum zur zwischen über""".split()
)
_BRACKETS = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[^/\s]+/")
# a dictionary entry's placeholders, not words of it: "jdn./etw. retten" is the verb retten,
# "er/sie rettet" its third person, "to kill sb./sth." the verb kill
_MARKERS = frozenset(
    "jdn. jdm. jds. etw. sich ich du wir sb. sth. sb.'s sth.'s sb.’s sth.’s one's oneself".split()
)
_HEADWORD = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)*$")
_MAX_PHRASE = 3  # words in an English translation kept
_PRONOUNS = frozenset("I you he she it we they".split())
_ENDINGS = ("en", "er", "es", "em", "e", "n")  # adjective declension, longest first
_MIN_STEM = 4


def gloss(text: str) -> str:
    """Return German text glossed into English word by word; words it cannot gloss stay.

    English grammar words a gloss brings ("das" -> "that", "würde" -> "would") are left out
    too: a word-by-word gloss has no grammar for them to carry, and in the embedding's
    average they only pull every glossed plot toward every other."""
    english_stop_words = _english_stop_words()
    out = []
    for token in _TOKEN.findall(text):
        if token.lower() in STOPWORDS:
            continue
        glossed = gloss_word(token)
        if glossed is None:
            out.append(token)
            continue
        out.extend(w for w in glossed.split() if w.lower() not in english_stop_words)
    return " ".join(out)


@lru_cache(maxsize=100_000)
def gloss_word(word: str) -> str | None:
    """Return a German word's English translation: the word, its lemma or base form, else its
    compound's head (Meisterboxer -> boxer), else a hyphenated word's parts; None when the
    glossary knows none of them."""
    table = _table()
    lower = word.lower()
    # a declined adjective or participle is written in lower case; a name is not
    bases = _undeclined(lower) if word[:1].islower() else []
    for key in (lower, simplemma.lemmatize(word, lang="de").lower(), *bases):
        if key in table:
            return table[key]
    if len(lower) >= MIN_COMPOUND:
        parts = _splitter().split(lower)
        if parts:
            head = parts[-1]
            for key in (head, simplemma.lemmatize(head.capitalize(), lang="de").lower()):
                if key in table:
                    return table[key]
    if "-" in word:  # Alzheimer-Diagnose -> Alzheimer diagnosis, each part as it can be
        parts = [(gloss_word(part), part) for part in word.split("-") if part]
        if any(glossed for glossed, _ in parts):
            return " ".join(glossed or part for glossed, part in parts)
    return None


def _undeclined(word: str) -> list[str]:
    """Return a declined adjective's or participle's possible base forms, longest ending
    first ("verschneiten" -> "verschneit", "genervte" -> "genervt", "letzten" -> "letzte"),
    which the lemmatizer misses when it reads them as another word's forms."""
    return [
        word[: -len(ending)]
        for ending in _ENDINGS
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM
    ]


@lru_cache(maxsize=1)
def _english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, imported on first use: a web process that never
    glosses does not load scikit-learn."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@lru_cache(maxsize=1)
def _splitter() -> Splitter:
    return Splitter(frozenset())


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    with gzip.open(GLOSSARY, "rt", encoding="utf-8") as fh:
        return dict(
            line.rstrip("\n").split("\t", 1) for line in fh if line.strip() and line[0] != "#"
        )


def _clean(text: str) -> str:
    """Return an entry (its brackets already taken out: build) without its placeholders
    ("jdn.", "sth.") and pronoun or tense alternatives ("er/sie", "hat/hatte")."""
    return " ".join(w for w in text.split() if w not in _MARKERS and "/" not in w)


def _english(phrase: str) -> str:
    """Return an English translation without its infinitive "to" or its pronoun ("du
    vergisst" is "you forget": vergisst is "forget")."""
    words = phrase.removeprefix("to ").split()
    if len(words) > 1 and words[0] in _PRONOUNS:
        words = words[1:]
    return " ".join(words)


def build(lines) -> dict[str, str]:
    """Return {german word: English translation} from Ding lines ("de | de :: en | en").

    A line's German and English sides hold the same number of "|" parts, each a ";" list of
    synonyms; every single German word is a key. An English synonym scores 1 / (its place in
    its list); a word's translation is the one with the highest score over all lines, then
    the more frequent in English (sorrow before teariness).
    """
    scores: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        if line.startswith("#") or " :: " not in line:
            continue
        german, english = line.rstrip("\n").split(" :: ", 1)
        de_parts, en_parts = german.split(" | "), english.split(" | ")
        if len(de_parts) != len(en_parts):
            de_parts, en_parts = de_parts[:1], en_parts[:1]
        for de, en in zip(de_parts, en_parts):
            # brackets first: "to rise {rose; risen}" holds a ";" of its own
            de, en = _BRACKETS.sub(" ", de), _BRACKETS.sub(" ", en)
            words = [w for w in (_clean(x) for x in de.split(";")) if _HEADWORD.match(w)]
            phrases = [_english(_clean(x)) for x in en.split(";")]
            phrases = [p for p in phrases if p and len(p.split()) <= _MAX_PHRASE and "\t" not in p]
            for word in words:
                for rank, phrase in enumerate(phrases):
                    scores[word.lower()][phrase.lower()] += 1.0 / (1 + rank)
    # a word that translates to itself (Boxer -> boxer) stays in: a compound's head is looked up
    return {
        word: max(options, key=lambda p: (options[p], wordfreq.zipf_frequency(p, "en"), p))
        for word, options in scores.items()
    }


def write(table: dict[str, str], path: Path = GLOSSARY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{word}\t{table[word]}\n" for word in sorted(table))
    header = (
        "# German -> English glossary for service/core/glossary.py, derived from the Ding\n"
        "# dictionary (Frank Richter, TU Chemnitz; GPL-2.0-or-later): see README.md here.\n"
    )
    # mtime=0: the same table gives the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write((header + body).encode("utf-8"))


def unload() -> None:
    """Forget the table, the splitter and the glossed words (they load again when next asked
    for): for a process that only ranks."""
    for cached in (_table, _splitter, gloss_word):
        cached.cache_clear()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "build":
        sys.exit("usage: python -m service.core.glossary build /usr/share/trans/de-en")
    with open(sys.argv[2], encoding="utf-8") as fh:
        built = build(fh)
    write(built)
    print(f"{len(built)} German words glossed -> {GLOSSARY}")
