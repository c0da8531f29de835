"""Own every Redis key of filmrecs and the atomic multi-key writes around them.

`Store` (store.py) is the one way in; keys.py alone spells key names, scripts.py holds the
Lua, and one module per concern holds its reads and writes (docs/ARCHITECTURE.md).
"""

from service.storage.base import Conflict, NotFound, _loads, now
from service.storage.films import TOMBSTONE_TTL, TOP_KEEP
from service.storage.scripts import tag_mark
from service.storage.store import Store
from service.storage.tags import TAGS_BATCH

__all__ = [
    "TAGS_BATCH",
    "TOMBSTONE_TTL",
    "TOP_KEEP",
    "Conflict",
    "NotFound",
    "Store",
    "_loads",
    "now",
    "tag_mark",
]
