"""Keep numba's on-disk cache of the ranking kernels true to their sources.

numba checks a cached function against its own file only: when rank_rows (kernels.py) calls a
helper of kernel_select.py and only the helper changes, the cached rank_rows, which holds the
old helper compiled in, is loaded again (numba issue 1833). After an upgrade that changed a
helper, workers would rank with the old rules. So the cache directory holds a digest of every
module with compiled functions, and when the sources differ from it, that directory's cached
kernels are dropped before any is loaded: the next call compiles them anew (20-30 s).
"""

import hashlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

CORE = Path(__file__).resolve().parent
# every module with numba-compiled functions, and so every file the cached kernels come from
MODULES = (
    "candidates",
    "catalog",
    "kernel_aspects",
    "kernel_consensus",
    "kernel_genres",
    "kernel_pack",
    "kernel_select",
    "kernels",
)
STAMP = "filmrecs-kernels.sha256"


def sources_digest() -> str:
    """Return the digest of the kernel modules' sources."""
    digest = hashlib.sha256()
    for name in MODULES:
        digest.update((CORE / f"{name}.py").read_bytes())
    return digest.hexdigest()


def drop_stale(cache_dir: str) -> bool:
    """Drop the kernel modules' cached functions in cache_dir (numba's directory for them)
    when they were compiled from other sources; return whether any were dropped.

    A directory that cannot be written is left as it is (numba then does not write to it
    either and compiles in memory)."""
    folder = Path(cache_dir)
    digest = sources_digest()
    stamp = folder / STAMP
    try:
        if stamp.read_text(encoding="ascii") == digest:
            return False
    except OSError:
        pass
    prefixes = tuple(f"{name}." for name in MODULES)
    dropped = 0
    try:
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.name.startswith(prefixes) and path.suffix in (".nbi", ".nbc"):
                path.unlink(missing_ok=True)
                dropped += 1
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{STAMP}.{os.getpid()}"
        tmp.write_text(digest, encoding="ascii")
        tmp.replace(stamp)
    except OSError as exc:
        log.warning("could not renew the kernel cache in %s: %s", folder, exc)
        return False
    if dropped:
        log.info("dropped %d cached kernel files compiled from older sources", dropped)
    return dropped > 0
