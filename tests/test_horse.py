"""A ranking job's work horse gives back the tagging models the warm-up loaded."""

import os

from service.core import embedding, glossary, plot, pos
from service.core.tagging import extract_text
from service.core.vocab import load_vocabulary
from workers import context
from workers.horse import shed_text_models


def _loaded() -> dict[str, int]:
    return {
        "embedding": embedding._model.cache_info().currsize,
        "glossary": glossary._table.cache_info().currsize,
        "hanta": pos._tagger.cache_info().currsize,
    }


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def test_a_worker_that_runs_jobs_in_itself_keeps_them(monkeypatch):
    monkeypatch.setattr(context, "_work_horse", False)
    embedding.film_embedding({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})
    assert not shed_text_models()
    assert _loaded()["embedding"] == 1


def test_a_work_horse_sheds_them_and_tagging_still_works(monkeypatch):
    pos.load_taggers()
    embedding.film_embedding({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})
    embedding.plot_text({"synopsis": {"de": "Ein Feuerwehrmann rettet eine Ärztin."}})  # glossed
    plot.plot_words([("en", "firefighter")])
    assert all(_loaded().values())
    read, write = os.pipe()
    child = os.fork()  # as rq forks a work horse, so the test process keeps its models
    if child == 0:
        try:
            context.mark_work_horse()
            before = _rss_mib()
            shed = shed_text_models()
            freed = before - _rss_mib()
            ok = shed and not any(_loaded().values()) and freed > 50
            # anything that asks for them again gets them again
            tags = extract_text("A widowed firefighter grieves.", "en", load_vocabulary())
            emb = embedding.film_embedding({"synopsis": {"en": "A firefighter saves a doctor."}})
            ok = ok and "firefighter" in tags and emb is not None
            os.write(write, f"{int(ok)} {freed:.0f}".encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.waitpid(child, 0)
    assert answer.startswith("1 "), f"shed, freed MiB: {answer}"
