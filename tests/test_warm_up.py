"""The worker's warm-up loads, before rq forks a job, what every job would otherwise load again."""

import subprocess
import sys
from pathlib import Path

import wordfreq

from service.core import embedding, glossary, plot, pos
from workers.worker import warm_up


def test_warm_up_loads_the_taggers_and_word_lists_that_jobs_use(monkeypatch):
    from service.core import borrow

    borrowing = []  # scikit-learn's TF-IDF for borrowed keywords: its own test below
    monkeypatch.setattr(borrow, "warm_up", lambda: borrowing.append(True))
    pos._tagger.cache_clear()
    wordfreq.get_frequency_dict.cache_clear()
    wordfreq._wf_cache.clear()  # its own cache of words already looked up
    plot._lemma_and_rarity.cache_clear()  # else words other tests saw never reach wordfreq
    embedding._model.cache_clear()
    glossary._table.cache_clear()
    glossary.gloss_word.cache_clear()  # else words other tests glossed never reach the table
    warm_up()
    assert pos._tagger.cache_info().currsize == 2  # HanTa's German and English models
    # wordfreq's German and English lists, which the plot words of every film read
    assert wordfreq.get_frequency_dict.cache_info().currsize >= 2
    # the plot embedding's model and the German glossary it reads through
    assert embedding._model.cache_info().currsize == 1
    assert glossary._table.cache_info().currsize == 1
    assert borrowing


def test_borrowing_warms_up_scikit_learn():
    """A fresh interpreter: after borrow.warm_up, a job that borrows imports nothing more."""
    code = (
        "import sys; from service.core import borrow; "
        "assert not any(m.startswith('sklearn') for m in sys.modules); borrow.warm_up(); "
        "print('sklearn.feature_extraction.text' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_a_worker_keeps_what_it_warmed_up_out_of_the_collectors_sight():
    """A fresh interpreter: after prepare_forks, the warm-up's objects are frozen, so a work
    horse's collections do not walk (and copy) the parent's heap."""
    code = (
        "import gc; from workers.worker import prepare_forks; "
        "before = gc.get_freeze_count(); prepare_forks(); print(before, gc.get_freeze_count())"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert before == 0 and after > 100_000  # the vocabulary, the glossary, the models' objects
