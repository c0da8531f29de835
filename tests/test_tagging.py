"""Tests for the tag vocabulary and the pure tag extraction."""

from pathlib import Path

import pytest

from service.core.tagging import extract_tags, extract_text, tag_vector
from service.core.vocab import VocabularyError, load_vocabulary, tokenize

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
if not SEEDS.is_dir():
    SEEDS = Path(__file__).resolve().parents[1] / "seeds" / "raw"
TMDB_GENRES = [
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family",
    "Fantasy", "Foreign", "History", "Horror", "Music", "Mystery", "Romance", "Science Fiction",
    "TV Movie", "Thriller", "War", "Western",
]  # fmt: skip


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def love911_de_synopsis():
    page = (SEEDS / "love-911-film-page.de.txt").read_text(encoding="utf-8")
    return page.split("Handlung\n", 1)[1].split("\nKritiken", 1)[0]


@pytest.fixture(scope="module")
def love911_en_review():
    blog = (SEEDS / "love-911-review-blog.en.txt").read_text(encoding="utf-8")
    return blog.split("2 thoughts on", 1)[0]


def any_of(tags, *names):
    return any(name in tags for name in names)


def test_love911_german_synopsis_alone(vocab, love911_de_synopsis):
    tags = extract_tags({"synopsis": {"de": love911_de_synopsis}}, [], vocab)
    strong = {t for t, v in tags.items() if v["weight"] >= 0.5}
    assert "firefighter" in strong
    assert any_of(strong, "grief", "widowhood")
    assert any_of(strong, "medical", "malpractice", "doctor", "hospital")
    assert "romance" in strong
    assert all(v["sources"] for v in tags.values())


def test_love911_english_review_alone(vocab, love911_en_review):
    tags = extract_tags({}, [{"language": "en", "body": love911_en_review}], vocab)
    assert "rom-com" in tags or {"romance", "comedy"} <= set(tags)
    for tag in ("firefighter", "grief", "medical"):
        assert tag in tags
        assert "review" in tags[tag]["sources"] or "parent" in tags[tag]["sources"]
    assert all(v["weight"] <= 0.5 for v in tags.values())  # reviews weigh less than the film


LOVE911_WRONG = {"dancer", "supernatural", "history", "war", "violent", "erotic"}


@pytest.mark.parametrize("text", ["synopsis", "review"])
def test_love911_words_read_in_their_sense(vocab, love911_de_synopsis, love911_en_review, text):
    film, reviews = (
        ({"synopsis": {"de": love911_de_synopsis}}, [])
        if text == "synopsis"
        else ({}, [{"language": "en", "body": love911_en_review}])
    )
    tags = extract_tags(film, reviews, vocab)
    assert not LOVE911_WRONG & set(tags), {
        t: tags[t]["excerpts"] for t in LOVE911_WRONG & set(tags)
    }
    assert {"firefighter", "grief", "widowhood", "romance"} <= set(tags)
    assert any_of(tags, "medical", "doctor", "hospital", "malpractice")
    naive = extract_tags(film, reviews, load_vocabulary(senses=False))
    assert LOVE911_WRONG & set(naive)  # what the sense rules prevent


@pytest.mark.parametrize(
    "word, tag",
    [
        ("Feuerwehrmann", "firefighter"),
        ("Feuerwehrfrau", "firefighter"),
        ("Herzchirurg", "doctor"),
        ("Behandlungsfehlerprozess", "malpractice"),
        ("Krankenhauspersonal", "hospital"),
        ("Zahnärztin", "doctor"),
        ("Behandlungsfehlerfall", "malpractice"),
        ("Kinderkrankenschwester", "nurse"),
        ("Kriegsreporter", "war"),
        ("Kriegsreporter", "journalist"),
        ("Polizeihund", "police"),
        ("Krebspatientin", "cancer"),
        ("Scheidungsanwalt", "divorce"),
        ("Krankenhausserie", "hospital"),
        ("Feuerwehrmänner", "firefighter"),
        ("Mordermittlungen", "murder"),
    ],
)
def test_german_compounds_reach_their_tags(vocab, word, tag):
    found = extract_text(f"Im Film geht es um einen {word}.", "de", vocab)
    assert tag in found


@pytest.mark.parametrize(
    "word, parts",
    [
        ("feuerwehrmann", ("feuerwehr", "mann")),
        ("herzchirurg", ("herz", "chirurg")),
        ("krankenhauspersonal", ("kranken", "haus", "personal")),
        ("geburtstag", ("geburts", "tag")),
        ("xylofrobnitz", None),
    ],
)
def test_compound_splitter(vocab, word, parts):
    assert vocab._split(word) == parts


@pytest.mark.parametrize("word", ["Geburtstag", "Unterdessen", "überzeugen", "Zeitgeist"])
def test_german_non_compounds_stay_untagged(vocab, word):
    assert extract_text(f"Es war {word}.", "de", vocab) == {}


@pytest.mark.parametrize(
    "text, lang, tag",
    [
        ("A romantic comedy set in Seoul.", "en", "rom-com"),
        ("He still talks to his deceased wife.", "en", "widowhood"),
        ("Two firemen fall in love.", "en", "romance"),
        ("Eine romantische Komödie über zwei Köche.", "de", "rom-com"),
        ("Sie trauert um ihren verstorbenen Mann.", "de", "widowhood"),
        ("Der junge Leutnant desertiert.", "de", "soldier"),  # an officer is a soldier
    ],
)
def test_synonyms_and_phrases(vocab, text, lang, tag):
    assert tag in extract_text(text, lang, vocab)


def test_multiword_phrase_beats_its_words(vocab):
    found = extract_text("It is a romantic comedy.", "en", vocab)
    assert "rom-com" in found and "comedy" not in found


@pytest.mark.parametrize(
    "text, lang, tag",
    [
        ("Seit der Alzheimer-Diagnose vergisst er Namen.", "de", "dementia"),
        ("Seit seiner Krebsdiagnose kämpft er.", "de", "cancer"),
        ("Since her cancer diagnosis she paints.", "en", "cancer"),
    ],
)
def test_what_was_diagnosed_lasts_and_is_no_past(vocab, text, lang, tag):
    plain = text.replace("Seit der ", "Mit der ").replace("Seit seiner ", "Mit seiner ")
    plain = plain.replace("Since her ", "With her ")
    assert (
        extract_text(text, lang, vocab)[tag]["count"]
        == extract_text(plain, lang, vocab)[tag]["count"]
    )


@pytest.mark.parametrize(
    "plain, weakened, lang, tag",
    [
        ("This film is a comedy.", "This film is not a comedy.", "en", "comedy"),
        ("Das ist ein Krimi.", "Das ist kein Krimi.", "de", "crime"),
        ("Der Film zeigt Humor.", "Der Film zeigt einen Hauch von Humor.", "de", "comedy"),
        ("A story of grief.", "A story with a touch of grief.", "en", "grief"),
        ("He throws a baseball.", "He cannot throw a baseball.", "en", "baseball"),
        # a part an actor plays, and a nickname in quotes, are not the character's profession
        (
            "A surgeon saves a pilot.",
            "An actor who played a surgeon saves a pilot.",
            "en",
            "doctor",
        ),
        (
            "Ein Chirurg rettet eine Pilotin.",
            "Er spielt einen Chirurgen in einer Serie.",
            "de",
            "doctor",
        ),
        ("The doctor on board helps.", "The only 'doctor' on board helps.", "en", "doctor"),
        ("The doctor on board helps.", "The only 'Doctor' on board helps.", "en", "doctor"),
        ("Der Doktor im Dorf hilft.", "Der einzige „Doktor“ im Dorf hilft.", "de", "doctor"),
        # the cast, not a character
        (
            "Eine Schauspielerin verliert ihre Stimme.",
            "Ein leises Drama, getragen von einer brillanten Schauspielerin.",
            "de",
            "actor",
        ),
        (
            "An actress loses her voice.",
            "A quiet thriller starring a superb actress.",
            "en",
            "actor",
        ),
        # where someone comes from or goes to, when something dates from: not the setting
        (
            "Die Rentnerin lebt im Allgäu.",
            "Die Rentnerin aus dem Allgäu überwintert auf Teneriffa.",
            "de",
            "germany",
        ),
        ("A scout in Munich calls.", "A scout wants to bring him to Munich.", "en", "munich"),
        ("In 1952, a love letter turns up.", "A love letter from 1952 turns up.", "en", "1950s"),
        # a threat or a warning is not yet the thing
        ("The country is at war.", "The country is on the brink of war.", "en", "war"),
        ("A hurricane hits the coast.", "A hurricane warning empties the coast.", "en", "storm"),
        ("Der Krieg spaltet das Dorf.", "Ein drohender Krieg spaltet das Dorf.", "de", "war"),
        # the event a state has lasted since is the story's past
        (
            "The funeral is on Friday.",
            "The sisters have fought since their father's funeral.",
            "en",
            "grief",
        ),
        ("Der Tod der Mutter trifft ihn.", "Seit dem Tod der Mutter schweigt er.", "de", "death"),
        # a profession someone retired from, unless they go back to it
        ("A postman finds a letter.", "A retired postman finds a letter.", "en", "postman"),
        ("Ein Polizist angelt am See.", "Ein Polizist im Ruhestand angelt am See.", "de", "police"),
        # a field of study is a subject
        ("Er arbeitet in der Medizin.", "Er wollte eigentlich Medizin studieren.", "de", "medical"),
    ],
)
def test_negation_and_hedges_count_less(vocab, plain, weakened, lang, tag):
    strong = extract_text(plain, lang, vocab)[tag]["count"]
    weak = extract_text(weakened, lang, vocab)[tag]["count"]
    assert 0 < weak < strong
    film_weight = extract_tags({"synopsis": {lang: weakened}}, [], vocab)[tag]["weight"]
    assert film_weight < extract_tags({"synopsis": {lang: plain}}, [], vocab)[tag]["weight"]


def test_asides_do_not_add_up(vocab):
    """A part played and a nickname in quotes are one aside, not two mentions."""
    text = (
        "A stage actor who portrayed a surgeon on tour is now the only 'surgeon' in the "
        "village. Nobody asks him for a diagnosis."
    )
    assert extract_text(text, "en", vocab)["doctor"]["count"] == pytest.approx(0.25)
    assert extract_tags({"synopsis": {"en": text}}, [], vocab)["doctor"]["weight"] < 0.5


def test_a_refugees_homeland_and_an_unexpected_thing_count_in_full(vocab):
    """Fleeing from a country is about it; not expecting a thing says it comes."""
    fled = extract_text("Ein Flüchtling aus Syrien eröffnet ein Café.", "de", vocab)
    assert fled["middle-east"]["count"] == 1.0
    for text in (
        "Neither expects the friendship.",
        "Nobody knows that no one suspects the friendship.",
    ):
        assert extract_text(text, "en", vocab)["friendship"]["count"] == 1.0


def test_a_retired_professional_who_goes_back_keeps_the_profession(vocab):
    text = "A retired detective is pulled back into the hunt for a poisoner."
    assert extract_text(text, "en", vocab)["detective"]["count"] == 1.0
    text = "Die pensionierte Kommissarin muss noch einmal ermitteln."
    assert extract_text(text, "de", vocab)["detective"]["count"] == 1.0


def test_a_place_reached_or_gone_home_to_is_the_setting(vocab):
    """Only a wanted or planned destination is elsewhere: one reached, or home, is the setting."""
    for text, lang, tag in [
        ("She moves to Munich and opens a bakery.", "en", "munich"),
        ("Three sisters fly home to Lagos for a wedding.", "en", "africa"),
        ("Er kehrt nach Köln zurück.", "de", "germany"),
        ("Researchers studying apes get lost.", "en", "apes"),
    ]:
        assert extract_text(text, lang, vocab)[tag]["count"] == 1.0, text


def test_the_early_bonus_needs_a_plain_mention(vocab):
    """A place elsewhere (or a negated, hedged, aside mention) named first is not the topic."""
    text = "Der Scout will ihn nach München holen, doch er bleibt lieber im Dorf."
    found = extract_text(text, "de", vocab)["munich"]
    assert (found["count"], found["position"]) == (0.5, 1.0)
    assert extract_tags({"synopsis": {"de": text}}, [], vocab)["munich"]["weight"] < 0.5


@pytest.mark.parametrize(
    "text, lang, child, parent",
    [
        ("Sie fährt mit ihrer Tochter ans Meer. Die Tochter schweigt.", "de",
         "mother-daughter", "family-relations"),
        ("He visits his son in prison. The son refuses to speak.", "en", "father-son",
         "family-relations"),
    ],
)  # fmt: skip
def test_a_relative_named_again_is_the_same_relationship(vocab, text, lang, child, parent):
    """A weak word for a broad tag, already named for its child, counts for the child."""
    found = extract_text(text, lang, vocab)
    assert parent not in found
    assert found[child]["count"] == 1.0


def test_one_word_giving_a_child_and_its_parent_gives_both(vocab):
    found = extract_text("They move into an old house that is haunted.", "en", vocab)
    assert found["horror"]["count"] == 0.5


def test_a_compound_film_type_names_its_heads_genre(vocab):
    """A Schul|komödie is a teen comedy and a Komödie; Welt|krieg is no war genre."""
    assert {"teen-comedy", "comedy"} <= set(extract_text("Eine Schulkomödie.", "de", vocab))
    assert {"rom-com", "comedy"} <= set(extract_text("Eine Liebeskomödie.", "de", vocab))
    assert "war" not in extract_text("Sie lebt im Zweiten Weltkrieg.", "de", vocab)


def test_playing_a_sport_keeps_its_weight(vocab):
    """The role-play cue reads professions only: playing baseball is still baseball."""
    plain = extract_text("He is good at baseball.", "en", vocab)["baseball"]["count"]
    assert extract_text("He plays baseball.", "en", vocab)["baseball"]["count"] == plain


@pytest.mark.parametrize("lang", [None, "en", "xx"])
def test_language_detected_when_missing_or_wrong(vocab, lang):
    text = "Die verwitwete Feuerwehrfrau verliebt sich in einen Herzchirurgen im Krankenhaus."
    assert {"firefighter", "widowhood", "doctor", "hospital"} <= set(
        extract_text(text, lang, vocab)
    )


def test_pinned_and_blocked(vocab):
    film = {
        "genres": ["Comedy"],
        "keywords": ["firemen"],
        "pinned_tags": ["kw:korean"],
        "blocked_tags": ["comedy", "rescue"],
    }
    tags = extract_tags(film, [], vocab)
    assert tags["kw:korean"] == {
        "weight": 1.0,
        "sources": ["pinned"],
        "evidence": [],
        "excerpts": [],
    }
    assert "comedy" not in tags and "rescue" not in tags
    assert tags["firefighter"]["weight"] == 1.0


def test_parents_added_with_lower_weight(vocab):
    tags = extract_tags({"keywords": ["romantic comedy", "malpractice"]}, [], vocab)
    assert tags["rom-com"]["weight"] == 1.0
    for parent in ("romance", "comedy", "justice"):
        assert tags[parent]["sources"] == ["parent"]
        assert 0 < tags[parent]["weight"] < 1.0
    assert tags["justice"]["weight"] == tags["romance"]["weight"] == 0.5
    assert tags["medical"]["sources"] == ["keyword", "parent"]  # mapped directly too


def test_every_keyword_but_the_ignored_is_kept_as_kw_tag(vocab):
    keywords = ["Mumblecore", "Korean Drama Remake", "Duringcreditsstinger"]
    tags = extract_tags({"keywords": keywords}, [], vocab)
    assert tags["kw:mumblecore"]["sources"] == ["keyword"]
    assert "kw:korean drama remake" in tags and "drama" in tags  # the keyword and what it maps to
    assert "kw:duringcreditsstinger" not in tags  # [ignored]: says nothing about the story
    assert vocab.label("kw:mumblecore") == "mumblecore"
    assert vocab.label("firefighter", "de") == "Feuerwehr"


@pytest.mark.parametrize(
    "tag, de, en, kind",
    [
        # a keyword reads as the tag it maps to, so the two show as one chip
        ("kw:widow", "Verwitwung", "Widowhood", "keyword"),
        ("kw:firefighter", "Feuerwehr", "Firefighters", "keyword"),
        ("plot:submarine", "Ähnliche Handlung", "Similar plot", "plot"),
        ("kw:mumblecore", "mumblecore", "mumblecore", "keyword"),
        ("genre:romance", "Liebesfilm", "Romance", "genre"),
        ("grief", "Trauer", "Grief", "theme"),
        ("title:potter", "Titel „Potter“", "Title “Potter”", "title"),
        ("nonsense:x", "nonsense:x", "nonsense:x", "unknown"),
    ],
)
def test_labels_of_vector_tags(vocab, tag, de, en, kind):
    assert (vocab.label(tag, "de"), vocab.label(tag, "en"), vocab.kind(tag)) == (de, en, kind)


def test_tag_vector_families(vocab):
    film = {
        "title": "The Towering Inferno",
        "genres": ["Drama", "Action"],
        "keywords": ["firemen", "skyscraper"],
        "synopsis": {"en": "A comedy of errors."},
    }
    tags = extract_tags(film, [], vocab)
    vector = tag_vector(film, tags, vocab)
    assert vector["genre:drama"] == vector["genre:action"] == 1.0
    assert "genre:comedy" not in vector and "comedy" in vector  # read in the text, not declared
    assert vector["kw:firemen"] == vector["firefighter"] == 1.0
    assert vector["title:towering"] == vector["title:inferno"] == 1.0 and "title:the" not in vector
    assert all(0 < w <= 1 for w in vector.values())


@pytest.mark.parametrize(
    "keyword, expected",
    [
        ("firemen", {"firefighter"}),
        ("romantic comedy", {"rom-com"}),
        ("hospital", {"hospital", "medical"}),
        ("widow", {"widowhood", "grief"}),
        ("widower", {"widowhood", "grief"}),
        ("female doctor", {"doctor"}),
        ("fire", set()),
        ("duringcreditsstinger", set()),
    ],
)
def test_map_keyword(vocab, keyword, expected):
    assert set(vocab.map_keyword(keyword)) == expected


@pytest.mark.parametrize("genre", TMDB_GENRES)
def test_every_tmdb_genre_maps_to_a_genre_tag(vocab, genre):
    mapped = vocab.map_genre(genre)
    assert len(mapped) == 1 and vocab.tags[mapped[0]].kind == "genre"


def test_review_weight_below_synopsis_and_grows_with_agreement(vocab):
    text = "A firefighter grieves."
    own = extract_tags({"synopsis": {"en": text}}, [], vocab)["firefighter"]["weight"]
    one = extract_tags({}, [{"language": "en", "body": text}], vocab)["firefighter"]["weight"]
    three = extract_tags({}, [{"language": "en", "body": text}] * 3, vocab)["firefighter"]["weight"]
    assert 0 < one < three <= 0.5 < own


def test_output_deterministic_and_weights_in_range(vocab, love911_de_synopsis, love911_en_review):
    film = {"genres": ["Drama"], "keywords": ["hospital"], "synopsis": {"de": love911_de_synopsis}}
    reviews = [{"language": "en", "body": love911_en_review}]
    first = extract_tags(film, reviews, vocab)
    assert first == extract_tags(film, reviews, vocab)
    assert list(first) == sorted(first)
    for value in first.values():
        assert 0 < value["weight"] <= 1
        assert value["sources"] == sorted(value["sources"])
        assert len(value["evidence"]) <= 5


def test_vocabulary_size_and_kinds(vocab):
    assert len(vocab.tags) >= 150
    assert {t.kind for t in vocab.tags.values()} == {
        "genre",
        "theme",
        "profession",
        "sport",
        "setting",
        "event",
        "relationship",
        "tone",
        "era",
    }


def _write(tmp_path, body):
    path = tmp_path / "vocab.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "body, message",
    [
        (
            '[tags.a]\nkind = "genre"\nlabels = {de = "A", en = "A"}\nparents = ["nope"]\n',
            "unknown parent 'nope'",
        ),
        ('[tags.a]\nkind = "mood"\nlabels = {de = "A", en = "A"}\n', "kind must be"),
        (
            (
                '[tags.a]\nkind = "tone"\nlabels = {de = "A", en = "A"}\nparents = ["b"]\n'
                '[tags.b]\nkind = "tone"\nlabels = {de = "B", en = "B"}\nparents = ["a"]\n'
            ),
            "parent cycle",
        ),
        (
            '[tags.a]\nkind = "tone"\nlabels = {de = "A", en = "A"}\n[keywords]\n"x" = ["zz"]\n',
            "unknown tag 'zz'",
        ),
    ],
)
def test_invalid_vocabulary_raises(tmp_path, body, message):
    with pytest.raises(VocabularyError, match=message):
        load_vocabulary(_write(tmp_path, body))


def test_tokenize_splits_negations_and_hyphens():
    assert tokenize("It isn't a rom-com") == ["It", "is", "not", "a", "rom", "com"]


def test_vocabulary_folder_merges_files_and_refuses_a_tag_defined_twice(tmp_path):
    tag = '[tags.{0}]\nkind = "tone"\nlabels = {{de = "{0}", en = "{0}"}}\nen = ["{0}"]\n'
    (tmp_path / "a.toml").write_text(tag.format("calm"), encoding="utf-8")
    (tmp_path / "b.toml").write_text(
        tag.format("eerie") + '[keywords]\n"spooky" = ["eerie"]\n', encoding="utf-8"
    )
    vocab = load_vocabulary(str(tmp_path))
    assert set(vocab.tags) == {"calm", "eerie"}
    assert vocab.map_keyword("spooky") == ["eerie"]
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("a.toml", "b.toml"):
        (twice / name).write_text(tag.format("calm"), encoding="utf-8")
    with pytest.raises(VocabularyError, match="already defined"):
        load_vocabulary(str(twice))


def test_scare_quotes_are_found_past_an_unquoted_first_mention():
    from service.core.mentions import scare_quoted as _scare_quoted

    # it reads the sentence lowercased, as extract_text hands it over
    assert _scare_quoted("doctor or not, he is the only 'doctor' on board.", "doctor")
    assert not _scare_quoted("doctor or not, he is the only doctor on board.", "doctor")
    assert not _scare_quoted("'tis the doctor.", "doctor")
    # any quote marks, and a match spelled capitalized in the text
    for sentence in ('the only "doctor" on board', "the only ‘doctor’ on board"):
        assert _scare_quoted(sentence, "doctor")
    assert _scare_quoted("the only 'doctor' on board", "Doctor")
    assert _scare_quoted("der einzige „doktor“ im dorf", "Doktor")
    assert _scare_quoted("der einzige «doktor» im dorf", "Doktor")
    assert not _scare_quoted("the doctor's bag", "doctor")
