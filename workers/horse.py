"""What a ranking job's work horse gives back: the tagging models the warm-up loaded."""

import ctypes
import ctypes.util
import gc

from workers.context import in_work_horse


def shed_text_models() -> bool:
    """In a work horse, forget what tagging needs and ranking does not; say whether it did.

    The warm-up loads the glossary, the embedding model, HanTa's taggers and wordfreq's word
    lists before rq forks (workers/worker.py), so that every tagging job has them for free.
    A work horse starts with those pages mapped, and a worker's memory is read with its work
    horse's: the ~0.6 GiB the two share count twice. A ranking job never tags, so its horse
    lets them go first, about 0.25 GiB of its RSS (docs/BENCHMARKS.md, "A million films");
    they load again if anything in the same process asks for them. A worker that runs jobs in
    itself (rq's SimpleWorker, the tests) keeps them: the next job would load them again.
    It takes about 0.25 s, so the rebuild asks for it in large catalogs only.
    """
    if not in_work_horse():
        return False
    from service.core import embedding, glossary, plot, pos

    for module in (embedding, glossary, pos, plot):
        module.unload()
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:  # glibc keeps freed heap pages for later; give them back to the system now
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)
    return True
