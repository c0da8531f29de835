"""Tests for word sense: sense rules, the part-of-speech reading, compounds by head, excerpts."""

import pytest

from service.core.pos import tag_clause
from service.core.sentences import excerpt, split_sentences
from service.core.tagging import extract_tags, extract_text
from service.core.vocab import VocabularyError, load_vocabulary, tokenize


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def plain():
    """The same vocabulary without its sense rules: every trap below fires with it."""
    return load_vocabulary(senses=False)


# (kind of mistake, text, lang, the tag it must not give)
TRAPS = [
    ("set phrase", "Jonas verliebt sich zum ersten Mal.", "de", "virginity"),
    ("two senses", "Dozens of dark, silent ships appear over the cities.", "en", "sea"),
    ("adjective as noun", "Her old-fashioned boss hates change.", "en", "fashion"),
    ("verb as profession", "She nurses her wounded pride.", "en", "nurse"),
    ("verb as profession", "The lawyer doctored the evidence.", "en", "doctor"),
    ("verb as profession", "She cooks dinner for her family.", "en", "chef"),
    ("adjective as noun", "A patient producer waits for the script.", "en", "medical"),
    ("adjective as noun", "She remains patient.", "en", "medical"),
    ("academic title", "Sie schreibt ihre Doktorarbeit über Käfer.", "de", "doctor"),
    ("academic title", "Er ist Doktor der Philosophie.", "de", "doctor"),
    ("academic title", "He holds a doctor of philosophy from Yale.", "en", "doctor"),
    ("metaphor", "Es ist ein heikler Tanz der Emotionen.", "de", "dancer"),
    ("metaphor", "Their talks are a dance of diplomacy.", "en", "dancer"),
    ("metaphor", "It becomes a battle of wits.", "en", "war"),
    ("metaphor", "They battle hypothermia in the basement.", "en", "war"),
    ("liking as love", "She loves her garden.", "en", "romance"),
    ("liking as love", "Er liebt sein Motorrad.", "de", "romance"),
    ("two senses", "Es geht um die Kraft des menschlichen Geistes.", "de", "supernatural"),
    ("two senses", "A story about the strength of the human spirit.", "en", "supernatural"),
    ("two senses", "Sie hat keine Lust auf Arbeit.", "de", "erotic"),
    ("two senses", "He has a violent temper.", "en", "violent"),
    ("subject as genre", "He is a history buff.", "en", "history"),
    ("subject as genre", "Er will ein historisches Unrecht korrigieren.", "de", "history"),
    ("subject as genre", "She becomes a history teacher.", "en", "history"),
    ("subject as genre", "She is a horror fan.", "en", "horror"),
    ("subject as genre", "Ein Krimiautor ermittelt.", "de", "crime"),
    ("liking as love", "His love of music grows.", "en", "romance"),
    ("liking as love", "Seine Liebe zur Musik wächst.", "de", "romance"),
    ("intensifier", "Das wird ein Mordsspaß.", "de", "murder"),
    ("intensifier", "She has a killer smile.", "en", "murder"),
    ("metaphor", "Er rettet seinen Fußballverein vor dem Abstieg.", "de", "rescue"),
    ("two senses", "He adopts a rescue dog.", "en", "adoption"),
    ("two senses", "She was crowned prom queen.", "en", "royalty"),
    ("two senses", "Am Wochenende lassen sie einen Drachen steigen.", "de", "dragons"),
    ("compound", "Er hat einen Hexenschuss.", "de", "magic"),
    ("compound", "Im Morgengrauen brechen sie auf.", "de", "horror"),
    ("two senses", "They strike a deal over dinner.", "en", "labor-movement"),
    ("two senses", "Mitten auf der Autobahn streikt das Wohnmobil.", "de", "labor-movement"),
    ("two senses", "Der Ausbruch des Vulkans zerstört das Dorf.", "de", "prison-escape"),
    ("two senses", "Der Betrug fliegt auf, als er die Bank betrügen will.", "de", "infidelity"),
    ("verb as profession", "They are assigned to escort fuel convoys.", "en", "sex-work"),
    ("two senses", "Sie wandern bis zu den Dünen am Meer.", "de", "desert"),
    ("compound", "Er bringt dem Hund Kunststücke bei.", "de", "artist"),
    ("two senses", "The barnyard gang pulls off a stunt.", "en", "street-gangs"),
    ("metaphor", "She is still haunted by an unsolved case.", "en", "haunted-house"),
    ("proper name", "He loses his job as a coach in Phoenix.", "en", "mythical-creatures"),
    ("trait", "A conspiracy-obsessed mechanic joins them.", "en", "psychological-thriller"),
    ("two senses", "She survives a company barbecue.", "en", "survival"),
    ("two senses", "A kill team led by her mentor is on her trail.", "en", "sports"),
    ("two senses", "The boxers train at a gym downtown.", "en", "bodybuilding"),
    ("other war", "Sie kämpfen im Ersten Weltkrieg an der Somme.", "de", "world-war-ii"),
    ("verb as setting", "Bullies who train at a flashy gym torment him.", "en", "train"),
    ("verb as setting", "He spends hours at a wooden training dummy.", "en", "train"),
    ("attribute as tone", "Her boss hates family-friendly clients.", "en", "family-friendly"),
    ("two senses", "A jazz ensemble plays at the wedding.", "en", "anthology"),
    ("two senses", "Er muss sich für seine Fehler verantworten.", "de", "trial"),
    ("set phrase", "She left home at the tender age of ten.", "en", "heartfelt"),
    # found by the synonym audit over TMDB overviews (bench/synonym_audit.py)
    ("name as word", "Agent Foster reports to the general.", "en", "adoption"),
    ("name as word", "She flies to Rome with Bond and Leiter.", "en", "friendship"),
    ("name as word", "Agent Snow arrives at the embassy.", "en", "winter"),
    ("name as word", "Her aunt Sue runs a bakery.", "en", "trial"),
    ("verb as noun", "Floods plague the valley every spring.", "en", "pandemic"),
    ("verb as noun", "He recruits a hacker for the job.", "en", "soldier"),
    ("verb as noun", "Pressed for time, she skips lunch.", "en", "journalist"),
    ("verb as noun", "The convict hides in a barn.", "en", "trial"),
    ("adjective as noun", "A middle-aged dentist buys a boat.", "en", "medieval"),
    ("adjective as noun", "The famed chef opens a bistro.", "en", "show-business"),
    ("verb as tone", "The musical is inspired by a novel.", "en", "inspirational"),
    ("verb as tone", "The probe touches down on Mars.", "en", "bittersweet"),
    ("verb as tone", "A wildfire is sweeping across the hills.", "en", "epic"),
    ("set phrase", "He comes out of retirement for one last job.", "en", "lgbtq"),
    ("set phrase", "An African-American pilot flies night missions.", "en", "africa"),
    ("set phrase", "It was an ill-fated voyage.", "en", "illness"),
    ("set phrase", "The fate of the city rests on a bus driver.", "en", "prophecy"),
    ("set phrase", "Das Schicksal der Stadt liegt in ihrer Hand.", "de", "prophecy"),
    ("set phrase", "She brings him the news of his promotion.", "en", "media"),
    ("set phrase", "Die Nachricht vom Unfall erreicht sie spät.", "de", "media"),
    ("set phrase", "They worry about their future together.", "en", "future"),
    ("set phrase", "Sie bangt um ihre Zukunft als Bäckerin.", "de", "future"),
    ("set phrase", "It ain't over yet.", "en", "robots"),
    ("backstory", "He meets his childhood sweetheart at a bar.", "en", "childhood"),
    ("backstory", "Sie trifft ihre Kindheitsliebe wieder.", "de", "childhood"),
    ("two senses", "He builds a machine that makes rain.", "en", "robots"),
    ("two senses", "Die Maschine landet sicher in Wien.", "de", "robots"),
    ("two senses", "She is torn between duty and a promise.", "en", "love-triangle"),
    ("two senses", "Er ist hin- und hergerissen zwischen Job und Pflicht.", "de", "love-triangle"),
    ("two senses", "Her desire to win the race grows.", "en", "erotic"),
    ("two senses", "The two kingdoms seal their union with a feast.", "en", "labor-movement"),
    ("two senses", "When war breaks out, the family flees.", "en", "prison-escape"),
    ("two senses", "The smuggler escapes police custody.", "en", "divorce"),
    ("two senses", "The astronauts adapt to a hostile environment.", "en", "environment"),
    ("two senses", "A tribe of nomads crosses the steppe.", "en", "native-americans"),
    ("two senses", "Ein Stamm von Nomaden zieht durch die Steppe.", "de", "native-americans"),
    ("two senses", "They find an ancient sword in a cave.", "en", "history"),
    ("two senses", "She is a witness to a robbery.", "en", "trial"),
    ("two senses", "Er wird Zeuge eines Überfalls.", "de", "trial"),
    ("character, not tone", "A powerful sorcerer seizes the throne.", "en", "intense"),
    ("character, not tone", "A sinister cult kidnaps a girl.", "en", "dark"),
    ("character, not tone", "A charming thief steals a necklace.", "en", "feel-good"),
    ("character, not tone", "A relentless detective chases him.", "en", "fast-paced"),
    ("character, not tone", "Bizarre accidents shake the village.", "en", "quirky"),
    ("character, not tone", "His outrageous pranks anger the principal.", "en", "camp"),
]
# (text, lang, tag): the same words in the sense that counts
SENSES_KEPT = [
    ("Sie will ihr erstes Mal mit Tom erleben, Sex ohne Druck.", "de", "virginity"),
    ("They cross the Atlantic on an old ship.", "en", "sea"),
    ("She dreams of a career in fashion.", "en", "fashion"),
    ("An ER nurse falls for a paramedic.", "en", "nurse"),
    ("The doctor fires his gun.", "en", "doctor"),
    ("The patient dies in surgery.", "en", "medical"),
    ("Der Tierdoktor hilft.", "de", "doctor"),
    ("Sie tanzt Tango, und der Tanz verbindet sie.", "de", "dancer"),
    ("They meet at a dance.", "en", "dancer"),
    ("The battle of Verdun rages on.", "en", "war"),
    ("He loves her.", "en", "romance"),
    ("Sie lieben sich.", "de", "romance"),
    ("Der Geist ihres verstorbenen Mannes spukt im Haus.", "de", "supernatural"),
    ("The spirit of her dead husband returns.", "en", "supernatural"),
    ("A history of the Roman empire.", "en", "history"),
    ("Ein historisches Drama im 18. Jahrhundert.", "de", "history"),
    ("A cook on a ship.", "en", "chef"),
    ("A horror film about a fan.", "en", "horror"),
    ("Ein Horrorfilm über einen Fan.", "de", "horror"),
    ("She is the love of his life.", "en", "romance"),
    ("Sie ist die Liebe seines Lebens.", "de", "romance"),
    ("Die Feuerwehr rettet ein Kind aus den Flammen.", "de", "rescue"),
    ("A couple adopts a baby girl.", "en", "adoption"),
    ("Die Ritter kämpfen gegen einen Drachen.", "de", "dragons"),
    ("The killer strikes again.", "en", "murder"),
    ("The queen dies.", "en", "royalty"),
    ("The miners go on strike for better wages.", "en", "labor-movement"),
    ("Die Arbeiter der Fabrik streiken für höhere Löhne.", "de", "labor-movement"),
    ("Der Häftling plant den Ausbruch aus dem Gefängnis.", "de", "prison-escape"),
    ("Sie will ihren Mann mit seinem besten Freund betrügen.", "de", "infidelity"),
    ("He hires an escort for the wedding.", "en", "sex-work"),
    ("Eine Karawane zieht durch die Dünen der Sahara.", "de", "desert"),
    ("Sie liebt die Kunst.", "de", "artist"),
    ("A street gang deals drugs on the corner.", "en", "street-gangs"),
    ("The house is haunted by the ghost of a child.", "en", "haunted-house"),
    ("Ein beklemmender Geisterhaus-Horrorfilm über eine Familie.", "de", "haunted-house"),
    ("A phoenix rises from the ashes.", "en", "mythical-creatures"),
    ("A stalker becomes obsessed with a singer.", "en", "psychological-thriller"),
    ("Stranded on an island, they must survive the storm.", "en", "survival"),
    ("The coach leads his team to the championship.", "en", "sports"),
    ("He spends his days at the gym lifting weights.", "en", "bodybuilding"),
    ("Im Zweiten Weltkrieg flieht sie aus Berlin.", "de", "world-war-ii"),
    ("They take the train to Vienna.", "en", "train"),
    ("A family-friendly adventure for kids of all ages.", "en", "family-friendly"),
    ("A wry ensemble comedy about three neighbours.", "en", "anthology"),
    ("Die Ärztin muss sich vor Gericht verantworten.", "de", "trial"),
    ("A tender drama about two old friends.", "en", "heartfelt"),
    ("A foster child finds a new home.", "en", "adoption"),
    ("The two boys form a bond on the river.", "en", "friendship"),
    ("The snow falls for days.", "en", "winter"),
    ("The neighbours decide to sue the city.", "en", "trial"),
    ("The plague spreads through the port.", "en", "pandemic"),
    ("A young recruit joins the army.", "en", "soldier"),
    ("She faces the press after the scandal.", "en", "journalist"),
    ("Their son is convicted of arson.", "en", "trial"),
    ("A knight returns home in the Middle Ages.", "en", "medieval"),
    ("His fame grows after the concert.", "en", "show-business"),
    ("An inspiring story about a blind climber.", "en", "inspirational"),
    ("A touching story about an old dog.", "en", "bittersweet"),
    ("A sweeping tale of love and war.", "en", "epic"),
    ("Coming out to his parents is hard.", "en", "lgbtq"),
    ("He comes out of the closet at twenty.", "en", "lgbtq"),
    ("She grows up in an African village.", "en", "africa"),
    ("He is ill and cannot work.", "en", "illness"),
    ("She cannot escape her fate.", "en", "prophecy"),
    ("Sie fügt sich in ihr Schicksal.", "de", "prophecy"),
    ("He watches the news every night.", "en", "media"),
    ("Er schaut jeden Abend die Nachrichten.", "de", "media"),
    ("In the future, cities float on the sea.", "en", "future"),
    ("In der Zukunft leben die Menschen auf dem Mars.", "de", "future"),
    ("The AI takes over the ship.", "en", "robots"),
    ("A film about her childhood in Vienna.", "en", "childhood"),
    ("Sie erinnert sich an ihre Kindheit in Wien.", "de", "childhood"),
    ("The machines rise against humanity.", "en", "robots"),
    ("Die Menschheit kämpft gegen die Maschinen.", "de", "robots"),
    ("She is torn between her husband and a painter.", "en", "love-triangle"),
    ("Sie ist hin- und hergerissen zwischen ihrem Mann und dem Maler.", "de", "love-triangle"),
    ("Their desire for each other leads to an affair.", "en", "erotic"),
    ("The miners form a union.", "en", "labor-movement"),
    ("Three inmates plan to break out of the jail.", "en", "prison-escape"),
    ("The parents fight over custody of their son.", "en", "divorce"),
    ("Activists fight to protect the environment from pollution.", "en", "environment"),
    ("A tribe of the American plains hunts buffalo.", "en", "native-americans"),
    ("Der Stamm lebt in der Prärie.", "de", "native-americans"),
    ("The ancient pharaoh wakes in his tomb.", "en", "history"),
    ("A witness changes her story at the hearing.", "en", "trial"),
    ("Die Zeugin lügt vor Gericht.", "de", "trial"),
    ("A powerful drama about grief.", "en", "intense"),
    ("A sinister thriller set in a motel.", "en", "dark"),
    ("A charming comedy about two bakers.", "en", "feel-good"),
    ("A relentless thriller that never slows down.", "en", "fast-paced"),
    ("A bizarre comedy about a talking fridge.", "en", "quirky"),
    ("An outrageous comedy about a pet show.", "en", "camp"),
]


@pytest.mark.parametrize("kind, text, lang, tag", TRAPS)
def test_trap_does_not_fire(vocab, plain, kind, text, lang, tag):
    assert tag in extract_text(text, lang, plain), "not a trap without sense rules"
    assert tag not in extract_text(text, lang, vocab), kind


@pytest.mark.parametrize("text, lang, tag", SENSES_KEPT)
def test_the_counting_sense_still_counts(vocab, text, lang, tag):
    assert tag in extract_text(text, lang, vocab)


@pytest.mark.parametrize(
    "text, lang, tag, count",
    [  # words the synonym audit found mostly in another sense: weak (half) or gone
        ("A criminal mastermind plans the robbery.", "en", "genius", 0.0),
        ("Two thugs wait outside the bar.", "en", "street-gangs", 0.5),
        ("He lives in exile in Paris.", "en", "immigration", 0.5),
        ("Sie lebt im Exil in Paris.", "de", "immigration", 0.5),
        ("A middle-aged dentist buys a boat.", "en", "midlife-crisis", 0.5),
        ("Ein Zahnarzt mittleren Alters kauft ein Boot.", "de", "midlife-crisis", 0.5),
    ],
)
def test_audited_words_count_half_or_not_at_all(vocab, text, lang, tag, count):
    assert extract_text(text, lang, vocab).get(tag, {"count": 0.0})["count"] == count


@pytest.mark.parametrize(
    "keyword, tag, mapped",
    [
        ("seduction", "erotic", True),  # a name has no sentence for "needs" to look in
        ("cook", "chef", True),  # nor for a part of speech
        ("sexual harassment", "erotic", False),  # set phrases still hold
        ("animal lover", "romance", False),
        ("free spirit", "supernatural", False),
    ],
)
def test_keywords_are_names(vocab, keyword, tag, mapped):
    assert (tag in vocab.map_keyword(keyword)) is mapped


def _tiny(tmp_path, senses: str):
    body = (
        '[tags.firefighter]\nkind = "profession"\nlabels = {de = "F", en = "F"}\n'
        'en = ["fire", "fireman"]\nde = ["feuer", "feuerwehr", "geist"]\n' + senses
    )
    path = tmp_path / "tiny.toml"
    path.write_text(body, encoding="utf-8")
    return load_vocabulary(str(path))


@pytest.mark.parametrize(
    "text, lang, fires",
    [
        ("The studio fires the director.", "en", False),
        ("The fire spreads to the roof.", "en", True),
        ("Ein Feuerwerk erhellt die Nacht.", "de", False),  # feuer is no head
        ("Das Lagerfeuer brennt.", "de", True),
        ("Der Teamgeist siegt.", "de", False),  # a set phrase
        ("Der Hausgeist erscheint.", "de", True),
        ("Das Feuer der Leidenschaft brennt.", "de", False),  # figurative
    ],
)
def test_each_rule_of_a_sense(tmp_path, text, lang, fires):
    vocab = _tiny(
        tmp_path,
        'senses = [{ word = "fire", lang = "en", pos = "noun" },\n'
        '  { word = "feuer", lang = "de", compound = "head", literal = true },\n'
        '  { word = "geist", lang = "de", not_in = ["teamgeist"] }]\n',
    )
    assert ("firefighter" in extract_text(text, lang, vocab)) is fires


def test_needs_a_cue_in_the_same_sentence(tmp_path):
    vocab = _tiny(
        tmp_path, 'senses = [{ word = "fire", lang = "en", needs = ["hose", "blaze"] }]\n'
    )
    assert "firefighter" not in extract_text("A fire. Later a hose.", "en", vocab)
    assert "firefighter" in extract_text("A fire, and later a hose.", "en", vocab)


def test_needs_may_name_a_shared_cue_list(tmp_path):
    vocab = _tiny(
        tmp_path,
        'senses = [{ word = "fire", lang = "en", needs = ["@water", "blaze"] }]\n'
        '[cues]\nwater = ["hose", "bucket"]\n',
    )
    assert "firefighter" in extract_text("A fire, and a bucket.", "en", vocab)
    assert "firefighter" in extract_text("A fire, and a blaze.", "en", vocab)
    assert "firefighter" not in extract_text("A fire, and a water.", "en", vocab)


@pytest.mark.parametrize(
    "cues, message",
    [
        ('water = ["hose"]\n', "needs '@wet', not in \\[cues\\]"),  # only another list
        ("wet = []\n", "named lists of words"),
        ('wet = "hose"\n', "named lists of words"),
    ],
)
def test_bad_cue_lists_are_refused(tmp_path, cues, message):
    with pytest.raises(VocabularyError, match=message):
        _tiny(
            tmp_path,
            f'senses = [{{ word = "fire", lang = "en", needs = ["@wet"] }}]\n[cues]\n{cues}',
        )


@pytest.mark.parametrize(
    "sense, message",
    [
        ('{ word = "fire", lang = "en", pos = "nown" }', "pos 'nown'"),
        ('{ word = "water", lang = "en", pos = "noun" }', "not one of its en synonyms"),
        ('{ word = "fire", lang = "fr" }', "needs a word and a lang"),
        ('{ word = "fire", lang = "en", needz = ["x"] }', "unknown keys"),
        ('{ word = "fire", lang = "en", not_in = ["open flame"] }', "does not contain 'fire'"),
        ('{ word = "feuer", lang = "de", compound = "tail" }', "compound must be"),
        ('{ word = "fire", lang = "en", pos = ["noun", "verb"] }', "one per word"),
        ('{ word = "fire", lang = "en" }, { word = "fire", lang = "en" }', "two senses"),
    ],
)
def test_bad_sense_rules_are_refused(tmp_path, sense, message):
    with pytest.raises(VocabularyError, match=message):
        _tiny(tmp_path, f"senses = [{sense}]\n")


@pytest.mark.parametrize(
    "sentence, word, pos",
    [
        ("The studio fires the director", "fires", "verb"),
        ("They try to battle hypothermia", "battle", "verb"),
        ("A patient producer waits", "patient", "attr"),
        ("She remains patient", "patient", "adj"),
        ("He is a history buff", "history", "attr"),
        ("A lawyer and a judge clash over a case", "judge", "noun"),
        ("The patient dies", "patient", "noun"),
        ("She loves her garden", "loves", "verb"),
        ("Bullies who train at a gym", "train", "verb"),
        ("They fire the manager", "fire", "verb"),
    ],
)
def test_english_part_of_speech(sentence, word, pos):
    tokens = tokenize(sentence)
    assert tag_clause(tuple(tokens), "en")[tokens.index(word)] == pos


@pytest.mark.parametrize(
    "text, lang, tag, counts",
    [
        ("Insect-like machines hunt the townspeople.", "en", "insects", False),
        ("A prison-like boarding school breaks him.", "en", "prison", False),
        ("Insects swarm the insect-like machines.", "en", "insects", True),  # one plain mention
        ("Swarms of insects hunt the townspeople.", "en", "insects", True),
    ],
)
def test_a_likeness_is_not_the_thing(vocab, text, lang, tag, counts):
    assert (tag in extract_text(text, lang, vocab)) is counts


def test_german_part_of_speech():
    tokens = ("Sie", "feuert", "ihren", "Assistenten")
    assert tag_clause(tokens, "de") == ("pronoun", "verb", "det", "noun")


def test_sentences_keep_abbreviations_and_ordinals():
    text = "Dr. Tae-o hilft. Im 18. Jahrhundert spielt es! J. R. R. Tolkien schrieb es."
    assert split_sentences(text) == [
        "Dr. Tae-o hilft.",
        "Im 18. Jahrhundert spielt es!",
        "J. R. R. Tolkien schrieb es.",
    ]


def test_excerpt_is_short_and_centred_on_the_word():
    sentence = " ".join(["wort"] * 60 + ["Feuerwehrmann"] + ["wort"] * 60)
    cut = excerpt(sentence, "Feuerwehrmann")
    assert "Feuerwehrmann" in cut and len(cut) <= 162 and cut[0] == cut[-1] == "…"


def test_tags_carry_their_words_and_sentences(vocab):
    film = {"keywords": ["firemen"], "synopsis": {"de": "Ein Film. Der Feuerwehrmann trauert."}}
    reviews = [{"language": "en", "body": "A sweet film. The fireman grieves for his wife."}]
    tags = extract_tags(film, reviews, vocab)
    assert tags["firefighter"]["excerpts"] == [
        {"source": "synopsis", "words": ["Feuerwehrmann"], "text": "Der Feuerwehrmann trauert."},
        {"source": "review", "words": ["fireman"], "text": "The fireman grieves for his wife."},
    ]
    assert tags["kw:firemen"]["excerpts"] == [] and tags["rescue"]["excerpts"] == []


def test_tags_endpoint_shows_the_excerpts(client, seeded):
    body = client.get("/api/v1/films/love-911/tags").get_json()
    tags = {t["tag"]: t for t in body["tags"]}
    quoted = tags["firefighter"]["excerpts"]
    assert quoted and all(set(e) == {"source", "words", "text"} for e in quoted)
    assert any("Feuerwehr" in e["text"] and e["source"] == "synopsis" for e in quoted)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "excerpts" in spec["components"]["schemas"]["Tag"]["properties"]
