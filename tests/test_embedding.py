"""Tests for the plot embedding (service/core/embedding.py) and the German glossary (the text
the borrowed keywords and the plot space read)."""

import numpy as np
import pytest

from service.core import embedding
from service.core.embedding import (
    DIM,
    decode,
    embed_texts,
    embedding_text,
    film_embedding,
    plot_text,
)
from service.core.glossary import build, gloss, gloss_word


def cosine(a: bytes, b: bytes) -> float:
    m, norms = decode([a, b])
    return float(m[0].astype(np.int64) @ m[1].astype(np.int64)) / (norms[0] * norms[1])


def test_german_words_gloss_into_english_including_a_compounds_head():
    assert gloss_word("Feuerwehrmann") == "firefighter"
    assert gloss_word("Feuerwehrmänner") == "firefighters"  # an inflected form
    assert gloss_word("Meisterboxer") == "boxer"  # not in the glossary: its head is
    assert gloss_word("Xyzzyquux") is None
    assert gloss("Der Boxer und seine Frau.") == "boxer woman ."  # grammar words dropped


def test_the_glossary_takes_a_lines_best_ranked_translation():
    lines = [
        "# a comment",
        "Trauer {f}; Traurigkeit {f} | Trauerfall {m} :: sorrow; sadness | bereavement",
        "Trauer {f} :: mourning",
        "Kummer {m}; Trauer {f} :: grief; woe",
        "zu Hilfe kommen :: to come to the rescue",  # a phrase is no headword
    ]
    table = build(lines)
    # sorrow, mourning and grief each rank first once: ties go to the more frequent word
    assert table["trauer"] == max(["sorrow", "mourning", "grief"], key=_zipf)
    assert table["traurigkeit"] == "sorrow"
    assert table["trauerfall"] == "bereavement"
    assert "zu hilfe kommen" not in table


def test_the_glossary_reads_verbs_abbreviations_and_irregular_forms_from_their_entries():
    lines = [
        # a verb's entry names its objects and persons: the words are retten, rettet, töten
        "jdn./etw. retten {vt} | rettend | er/sie rettet :: to save sb./sth. | saving | he/she saves",
        "jdn./etw. töten {vt} :: to kill sb./sth.",
        "du vergisst :: you forget",
        "Norwegen {n} /NO/ (Kfz: /N/) [geogr.] :: Norway",  # an abbreviation between slashes
        "ansteigen {vi} :: to rise {rose; risen}",  # a ";" inside braces
    ]
    table = build(lines)
    assert table["retten"] == "save"
    assert table["rettet"] == "saves"
    assert table["töten"] == "kill"
    assert table["vergisst"] == "forget"
    assert table["norwegen"] == "norway"
    assert table["ansteigen"] == "rise"
    assert "er/sie rettet" not in table and "rise {rose" not in table.values()


def test_declined_adjectives_hyphenated_words_and_grammar_words_in_a_gloss():
    assert gloss_word("verschneiten") == "snowy"  # verschneit, declined
    assert gloss_word("genervte") == "annoyed"
    assert gloss_word("Alzheimer-Diagnose") == "Alzheimer diagnosis"  # part by part
    assert gloss_word("Hansen") is None  # a name is not a declined "Hanse"
    # "das" would gloss as "that": a word salad has no grammar for it to carry
    assert gloss("Das Dorf in Norwegen.") == "village norway ."


def _zipf(word):
    import wordfreq

    return wordfreq.zipf_frequency(word, "en")


def test_a_german_plot_lands_near_the_english_plot_of_the_same_story():
    german = film_embedding(
        {
            "synopsis": {
                "de": "Eine Feuerwehrfrau rettet einen Herzchirurgen aus einem brennenden "
                "Krankenhaus und verliebt sich in ihn."
            }
        }
    )
    english = film_embedding(
        {
            "synopsis": {
                "en": "A firefighter rescues a heart surgeon from a burning hospital and "
                "falls in love with him."
            }
        }
    )
    other = film_embedding(
        {"synopsis": {"en": "A submarine crew hunts an enemy convoy in the North Atlantic."}}
    )
    assert len(german) == len(english) == DIM
    assert cosine(german, english) > 0.5
    assert cosine(german, english) > cosine(german, other) + 0.3


def test_what_the_embedding_and_the_plot_text_read():
    both = {"synopsis": {"de": "Ein Boxer.", "en": "A boxer fights."}}
    assert plot_text(both) == embedding_text(both) == "A boxer fights."  # English first
    german = {"synopsis": {"de": "Ein Boxer kämpft."}}
    assert plot_text(german) == "boxer fights ."  # glossed, for TF-IDF over English films
    assert embedding_text(german) == "Ein Boxer kämpft."  # the encoder reads German
    review = {"body": "A moving film about a boxer.", "language": "en"}
    assert plot_text({"synopsis": {}}, [review]) == review["body"]  # no synopsis: the reviews
    assert embedding_text({"synopsis": {}}, [review]) == review["body"]
    assert film_embedding({"title": "Untitled"}) is None  # nothing to read: no embedding


def test_embedding_a_text_alone_or_among_others_gives_the_same_bytes():
    texts = [
        "A widowed firefighter falls for the surgeon she is suing.",
        "Ein U-Boot jagt im Nordatlantik einen Geleitzug.",
        "Two sisters inherit their late mother's holiday house on the Baltic coast.",
    ]
    together = embed_texts(texts)
    for i, text in enumerate(texts):
        assert together[i].tobytes() == embed_texts([text])[0].tobytes()


def test_unrelated_plots_meet_near_zero_once_centred():
    a, b = embed_texts(
        [
            "A submarine crew hunts an enemy convoy in the North Atlantic.",
            "A pastry chef opens a bakery in Paris and falls in love with her landlord.",
        ]
    )
    a, b = a.astype(np.int64), b.astype(np.int64)
    assert abs(a @ b) / np.sqrt((a @ a) * (b @ b)) < 0.2


def test_stored_bytes_decode_to_int8_rows_and_norms():
    blobs = [embed_texts(["a firefighter"])[0].tobytes(), None, b"short"]
    matrix, norms = decode(blobs)
    assert matrix.dtype == np.int8 and matrix.shape == (3, DIM)
    assert norms[0] > 0 and norms[1] == 0 and norms[2] == 0
    assert np.abs(matrix[0]).max() == 127  # scaled to the int8 range


def test_the_model_loads_from_the_package_without_the_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedding._model.cache_clear()
    try:
        assert embed_texts(["a boxer"]).shape == (1, DIM)
    finally:
        embedding._model.cache_clear()


@pytest.mark.parametrize("text", ["", "   "])
def test_blank_text_has_no_embedding(text):
    assert film_embedding({"synopsis": {"en": text}}) is None


def test_a_tag_job_keeps_the_encoder_bytes_of_an_unchanged_text(monkeypatch):
    from workers.jobs import tag_film

    film = {"id": "f", "rev": 1, "title": "F", "synopsis": {"en": "A firefighter saves a doctor."}}
    doc, _, emb = tag_film(film, [])
    assert doc["embedded"] == embedding.text_key(embedding_text(film)) and doc["encoder"] == ""

    def refuse(texts):
        raise AssertionError("embedded again")

    with monkeypatch.context() as m:
        m.setattr(embedding, "embed_texts", refuse)
        again, _, kept = tag_film({**film, "rev": 2}, [], kept=(doc, emb))
    assert kept == emb and again == {**doc, "rev": 2}
    # another text, or another model or projection, is embedded again
    changed = {**film, "synopsis": {"en": "A boxer trains for a title fight."}}
    assert tag_film(changed, [], kept=(doc, emb))[2] == film_embedding(changed)
    assert embedding.kept_bytes(doc, emb, embedding.text_key(embedding_text(changed))) is None
    monkeypatch.setattr(embedding, "_model_id", lambda: b"another model")
    assert embedding.kept_bytes(doc, emb, embedding.text_key(embedding_text(film))) is None


def test_a_joined_embedding_keeps_the_encoders_bytes_beside_it():
    text = "Eine Ärztin verliebt sich in einen Feuerwehrmann."
    plain = embed_texts([text])[0].tobytes()
    stored = embedding.joined(plain, np.ones(8, np.float32), 0.3)
    key = embedding.text_key(text)
    note = embedding.noted(plain, key, stored)
    assert note["encoder"] and embedding.kept_bytes(note, stored, key) == plain
    assert embedding.kept_bytes(note, stored, embedding.text_key(text + " Sie heiraten.")) is None
    assert embedding.noted(None, None, None) == {}  # no text, nothing to keep
