"""The plot family: a film's telling words, rare in their language, names and common words left out."""

from service.core.plot import MAX_WORDS, REVIEW_WEIGHT, film_plot_words, plot_words
from service.core.vocab import PLOT_PREFIX


def words(vector):
    return {tag[len(PLOT_PREFIX) :] for tag in vector}


def test_rare_words_stay_and_common_words_and_names_go():
    got = words(plot_words([("en", "The submarine crew of Katniss hunts a convoy in the storm.")]))
    assert {"submarine", "convoy"} <= got
    assert not {"the", "crew", "hunts", "katniss", "storm"} & got  # common, or a name


def test_german_plots_give_their_own_words_the_same_in_every_process():
    import subprocess
    import sys

    code = (
        "from service.core.plot import plot_words; "
        "print(sorted(plot_words([('de', 'Der Feuerwehrmann trauert um seine Frau.')])))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": str(seed)},
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }  # lemma choice must not follow set order
    assert len(runs) == 1
    assert "plot:feuerwehrmann" in runs.pop()


def test_a_film_keeps_its_rarest_words_only():
    text = " ".join(
        f"{w}"
        for w in [
            "submarine",
            "convoy",
            "torpedo",
            "destroyer",
            "periscope",
            "sonar",
            "mutiny",
            "hypothermia",
            "blockade",
            "minefield",
            "admiral",
            "battleship",
            "frigate",
            "trawler",
            "lifeboat",
            "harpoon",
            "iceberg",
            "schooner",
            "ballast",
            "starboard",
        ]
    )
    assert len(plot_words([("en", text)])) == MAX_WORDS


def test_reviews_add_words_at_half_weight_and_never_lower_the_plots():
    vector = film_plot_words(
        [("en", "A submarine hunts a convoy.")],
        [("en", "The submarine scenes and the torpedo duel are superb.")],
    )
    assert vector[PLOT_PREFIX + "submarine"] == 1.0
    assert vector[PLOT_PREFIX + "torpedo"] == REVIEW_WEIGHT
