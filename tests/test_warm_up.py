"""The worker's warm-up loads, before rq forks a job, what every job would otherwise load again."""

import wordfreq

from service.core import embedding, glossary, plot, pos
from workers.worker import warm_up


def test_warm_up_loads_the_taggers_and_word_lists_that_jobs_use():
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
