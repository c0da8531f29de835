"""How one mention counts, read from the words around it: negation, hedges, parts played,
the cast, places elsewhere, threats, retirement, fields of study (docs/TAGGING.md, step 5)."""

import itertools

from service.core.vocab import tokenize

NEGATED, HEDGED = 0.25, 0.5  # count factors for "not a comedy" and "a touch of comedy"
ASIDE = 0.25  # "played a surgeon", the only 'doctor' on board: a part or a nickname
_WINDOW = 3  # tokens before a match searched for negation / hedges
_NEGATIONS = frozenset(
    {"not", "cannot", "no", "never", "without", "nor", "neither", "hardly", "barely"}
    | {"kein", "keine", "keinen", "keinem", "keiner", "keines", "nicht", "nie", "niemals"}
    | {"ohne", "weder", "kaum"}
)
_HEDGES = frozenset(
    {"bit", "touch", "hint", "hints", "shade", "trace", "slightly", "somewhat", "mildly"}
    | {"vaguely", "faintly", "element", "elements", "hauch", "anflug", "spur", "bisschen"}
    | {"etwas", "leicht", "leichte", "leichten", "ansatzweise", "prise", "elemente"}
)
_HEDGE_PAIRS = frozenset({("kind", "of"), ("sort", "of")})
_QUOTE_CHARS = frozenset("'‘’\"“”„«»‹›")
# "insect-like machines", "a Kafka-esque office": a likeness, not the thing (German glues its
# -artig and -ähnlich on, and compounds are read by their head)
_LIKENESS = ("-like", "-esque", "-shaped")
# Role-play: "played a surgeon", "spielt einen Arzt": an actor's part, for professions only
# ("plays baseball" and "spielt die Geige" name no profession and keep their weight).
_ROLE_VERBS = frozenset(
    {"play", "plays", "played", "playing", "portray", "portrays", "portrayed", "portraying"}
    | {"spielt", "spielte", "spielten", "verkörpert", "verkörperte", "mimt", "mimte"}
)
_ROLE_ARTICLES = frozenset({"a", "an", "the", "einen", "eine", "den", "die", "der"})
ASIDE_KINDS = frozenset({"profession"})
# The cast, not a character: "getragen von zwei großartigen Schauspielerinnen", "starring",
# "played by a superb actress" (a verb of carrying or playing and "by"/"von", or a cast word)
_CAST_VERBS = frozenset(
    {"carried", "played", "portrayed", "performed", "brought", "getragen", "gespielt"}
    | {"verkörpert", "dargestellt"}
)
_CAST_WORDS = frozenset({"starring", "cast", "besetzt", "besetzung", "ensemble"})
# "Neither expects the friendship", "Niemand ahnt ...": the negation is of knowing or
# expecting, the thing itself happens
_EXPECT = frozenset(
    {"expect", "expects", "expected", "expecting", "suspect", "suspects", "suspected", "know"}
    | {"knows", "knew", "imagine", "imagines", "imagined", "guess", "guesses", "guessed"}
    | {"realize", "realizes", "realized", "foresee", "foresees", "foresaw", "ahnt", "ahnen"}
    | {"ahnte", "ahnten", "erwartet", "erwarten", "erwartete", "rechnet", "rechnen", "weiß"}
    | {"wissen", "wusste", "wussten", "vermutet", "vermuten", "ahnend"}
)
# Elsewhere: a place someone comes from or is bound for, and a year something dates from,
# are not where or when the film is set ("Rentner aus dem Sauerland" on Mallorca, "der ihn
# nach München holen will", "a bus ticket to Glasgow", "a love affair from 1968")
_FROM = frozenset({"from", "since", "aus", "seit"})  # places and times
_TO = frozenset({"to", "nach"})  # places only ("back to 1968" is when it is set)
# a destination counts half only when it is wanted or still to come ("der ihn nach München
# holen will", "wants to move to Paris"): "moves to San Francisco", "travels to India" is
# where most films then play (TMDB 5000 lost 20 true settings without this)
_WANTING = frozenset(
    {"will", "want", "wants", "wanted", "would", "hope", "hopes", "hoped", "dream", "dreams"}
    | {"dreamed", "plan", "plans", "planned", "wish", "wishes", "wished", "möchte", "möchten"}
    | {"wollen", "wollte", "wollten", "willst", "soll", "sollen", "plant", "plante", "träumt"}
    | {"träumte", "hofft", "hoffte"}
)
_PLACE_ARTICLES = frozenset({"the", "dem", "der", "den", "die", "das"})
# ... unless it is a way home: "fly home to Lagos", "back to Glasgow", "kehrt nach Köln zurück"
_HOMEWARD = frozenset({"home", "back", "return", "returns", "returned", "returning", "heim"})
_HOMEWARD_AFTER = frozenset({"zurück", "heim", "zurückkehren", "zurückkehrt", "heimkehren"})
ELSEWHERE_KINDS = {"setting": _FROM | _TO, "era": _FROM}
# ... unless someone fled or emigrated from it: "ein Flüchtling aus Syrien" is about Syria
_MIGRANTS = (
    "refugee", "immigra", "emigra", "migrant", "exile", "fled", "flee", "flüchtling",
    "geflüchtet", "geflohen", "einwander", "ausgewander", "eingewander",
)  # fmt: skip
# Retired: "der pensionierte Postbote" is no postman film, unless he goes back to it ("a
# retired detective is pulled back into the hunt", "noch einmal", "out of retirement")
_RETIRED = ("retired", "pensioniert")  # and "ein Polizist im Ruhestand"
_RETURNS = frozenset(
    {"back", "again", "return", "returns", "returned", "returning", "comeback", "wieder"}
    | {"zurück", "zurückkehren", "zurückgekehrt", "reaktiviert"}
)
_RETURN_PHRASES = (
    "noch einmal", "ein letztes mal", "one last", "one more", "out of retirement",
    "aus dem ruhestand",
)  # fmt: skip
# Not yet the thing: "on the brink of war", "a hurricane warning", "a death threat", "ein
# drohender Krieg", "ein Krieg droht" ("prepares for a revolt" was left out: the revolt of
# Conquest of the Planet of the Apes happens, the war of a cold-war plot does not)
_THREAT_BEFORE = frozenset(
    {("brink", "of"), ("verge", "of"), ("threat", "of"), ("threats", "of"), ("risk", "of")}
    | {("rumors", "of"), ("rumours", "of"), ("rande", "eines"), ("rande", "des")}
)
_SINCE_DETS = frozenset(
    {"the", "his", "her", "their", "its", "my", "our", "your", "dem", "der", "des", "seinem"}
    | {"seiner", "ihrem", "ihrer", "einem", "einer", "unserem", "unserer"}
)
_DIAGNOSIS = ("diagnose", "diagnosis")  # a word, or a German compound's head
_THREAT_ARTICLES = frozenset({"a", "an", "the", "einem", "eines", "einen", "den", "der", "die"})
_THREAT_AFTER = frozenset(
    {"warning", "warnings", "threat", "threats", "scare", "looms", "droht", "drohte"}
)
# a field of study is a subject, not the film's: "wollte Medizin studieren", "a degree in law"
# ("studying apes" in the field is research, so English reads only "a degree/major in")
_STUDY_BEFORE = frozenset({("degree", "in"), ("major", "in"), ("majors", "in"), ("majoring", "in")})


def threatened(words: list[str], start: int, end: int) -> bool:
    """Whether a match is only a threat or a warning: "on the brink of a war", "a hurricane
    warning", "ein drohender Krieg" (not yet the thing)."""
    if end < len(words) and words[end].lower() in _THREAT_AFTER:
        return True
    at = start - 1
    if at >= 0 and words[at].lower() in _THREAT_ARTICLES:
        at -= 1  # "on the brink of a war"
    if at < 0:
        return False
    last = words[at].lower()
    return last.startswith("drohend") or (
        at >= 1 and (words[at - 1].lower(), last) in _THREAT_BEFORE
    )


def retired(words: list[str], start: int, end: int) -> bool:
    """Whether a profession is one someone retired from: "a retired postman", "der
    pensionierte Postbote", "ein Polizist im Ruhestand"."""
    before = [w.lower() for w in words[max(0, start - 2) : start]]
    after = [w.lower() for w in words[end : end + 2]]
    return any(w.startswith(_RETIRED) for w in before) or after == ["im", "ruhestand"]


def goes_back(text: str) -> bool:
    """Whether a text tells of a return to work: "pulled back into the hunt", "noch einmal"."""
    lowered = text.lower()
    return bool(_RETURNS & set(tokenize(lowered))) or any(p in lowered for p in _RETURN_PHRASES)


def since_then(words: list[str], start: int) -> bool:
    """Whether a match is the event a state has lasted since, the story's past: "since their
    father's funeral", "seit dem Tod der Mutter"; the event right after its article or
    possessor (not "seit Jahren", not "since the attack on Pearl Harbor"). A diagnosis is
    not past: what was diagnosed lasts ("seit der Alzheimer-Diagnose", "since her cancer
    diagnosis")."""
    following = words[start + 1].lower() if start + 1 < len(words) else ""
    if following in _DIAGNOSIS or words[start].lower().endswith(_DIAGNOSIS):
        return False
    if start >= 2 and words[start - 1].lower() in _SINCE_DETS:
        k = start - 2  # "since the funeral", "seit dem Tod"
    elif start >= 4 and words[start - 1] == "s" and words[start - 3].lower() in _SINCE_DETS:
        k = start - 4  # "since their father's funeral": since, their, father, s, funeral
    else:
        return False
    return words[k].lower() in ("since", "seit")


def mention_factor(words: list[str], start: int) -> float:
    before = [w.lower() for w in words[max(0, start - _WINDOW) : start]]
    if any(
        w in _NEGATIONS and (i + 1 == len(before) or before[i + 1] not in _EXPECT)
        for i, w in enumerate(before)
    ):
        return NEGATED
    if any(w in _HEDGES for w in before) or any(
        p in _HEDGE_PAIRS for p in itertools.pairwise(before)
    ):
        return HEDGED
    return 1.0


def places(lower: str, surface: str):
    """Yield (start, end) of every place surface stands in a lowercased sentence."""
    at = lower.find(surface)
    while at >= 0:
        end = at + len(surface)
        yield at, end
        at = lower.find(surface, end)


def scare_quoted(lower: str, surface: str) -> bool:
    """Whether a one-word match stands in quotes in the lowercased sentence, at any place,
    not only the first ("Doctor … the only 'doctor' on board")."""
    return " " not in surface and any(
        0 < at and end < len(lower) and {lower[at - 1], lower[end]} <= _QUOTE_CHARS
        for at, end in places(lower, surface.lower())
    )


def likeness(lower: str, surface: str) -> bool:
    """Whether every place a match stands in the lowercased sentence is a likeness:
    "insect-like machines"."""
    ends = [end for _, end in places(lower, surface.lower())]
    return bool(ends) and all(lower.startswith(_LIKENESS, end) for end in ends)


def role_play(words: list[str], start: int) -> bool:
    """Whether the match at start is a part someone plays: "played a heart surgeon",
    "spielt einen Arzt" (a role verb, an article, at most one word between)."""
    before = [w.lower() for w in words[max(0, start - 3) : start]]
    return (
        len(before) >= 2
        and before[-1] in _ROLE_ARTICLES
        and (before[-2] in _ROLE_VERBS or (len(before) == 3 and before[-3] in _ROLE_VERBS))
    )


def cast(words: list[str], start: int) -> bool:
    """Whether a profession at start describes the cast: "getragen von zwei großartigen
    Schauspielerinnen", "starring a superb actress" (a cue up to 4 words before)."""
    before = [w.lower() for w in words[max(0, start - 4) : start]]
    return any(w in _CAST_WORDS for w in before) or any(
        a in _CAST_VERBS and b in ("by", "von") for a, b in itertools.pairwise(before)
    )


def elsewhere(words: list[str], start: int, kind: str, lang: str) -> bool:
    """Whether a place (or a year) at start is where someone comes from or goes to, not the
    film's setting: "aus dem Sauerland", "nach München", "from the British Museum", "from 1968".
    A name: its first word is capitalized or a number; an article and one capitalized word
    may stand between (the British Museum)."""
    cues = ELSEWHERE_KINDS.get(kind)
    word = words[start]
    if cues is None or not (word[:1].isupper() or word[:1].isdigit()):
        return False
    i = start - 1
    if i >= 1 and words[i][:1].isupper() and words[i - 1].lower() in _PLACE_ARTICLES:
        i -= 1  # "from the British Museum": an adjective of the name
    if i >= 1 and words[i].lower() in _PLACE_ARTICLES:
        i -= 1
    if i < 0 or words[i].lower() not in cues:
        return False
    if words[i].lower() in _TO and (
        # wanted before it is named (German puts the modal last: "nach München holen will")
        not _WANTING & {w.lower() for w in (words if lang == "de" else words[:i])}
        or (i > 0 and words[i - 1].lower() in _HOMEWARD)
        or any(w.lower() in _HOMEWARD_AFTER for w in words[start + 1 : start + 3])
    ):
        return False  # not wanted but reached, or a way home: where the film goes
    near = [w.lower() for w in words[max(0, i - 1) : i] + words[start + 1 : start + 2]]
    return words[i].lower() not in _FROM or not any(w.startswith(_MIGRANTS) for w in near)


def studied(words: list[str], start: int, end: int) -> bool:
    """Whether the match is a field someone studies: "Medizin studieren", "a degree in law"."""
    after = words[end].lower() if end < len(words) else ""
    if after == "zu" and end + 1 < len(words):
        after = words[end + 1].lower()  # "Medizin zu studieren"
    return after.startswith("studier") or (
        start >= 2 and (words[start - 2].lower(), words[start - 1].lower()) in _STUDY_BEFORE
    )
