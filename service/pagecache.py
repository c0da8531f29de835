"""The film page's cache: pages a web process rendered, kept in the process and shared with
the other processes through Redis, each served again only while what it was made from is
unchanged (the rule of the related-titles page cache, docs/ARCHITECTURE.md)."""

import logging
import zlib
from typing import NamedTuple

import orjson
from flask import current_app, request
from redis.exceptions import RedisError

from service.common import primary_store, store
from service.recommendations import PageCache, list_digest, primary_ahead, still_made_from

log = logging.getLogger("recs.web")

KEPT = "recs.kept_page"  # environ: the kept page pages.film_page served (pagefront replays it)
CHECKED = "recs.kept_checked"  # environ: a kept page pagefront found no longer current


class KeptPage(NamedTuple):
    """A rendered film page with what it was made from: related_page's made_from (index
    version, cards generation, list digest) and the film's card revision."""

    made_from: tuple
    card_rev: int
    html: bytes
    etag: str
    last_modified: float


class FilmPages(PageCache):
    """The pages this process keeps (at most `size`), how long a page shared through Redis
    lives (`shared_ttl` seconds; 0: pages are not shared) and the index version last seen."""

    def __init__(self, size: int, shared_ttl: int):
        super().__init__(size)
        self.shared_ttl = shared_ttl
        self.version = 0


_FORMAT = b"P1"  # a record in another format reads as none


def encode_shared(page: KeptPage) -> bytes:
    """Return a page as Redis keeps it: what it was made from as JSON, a newline, the page
    compressed (zlib level 1: a 7.5 KB page takes 1.5 KB, in ~50 us)."""
    version, gen, digest = page.made_from
    head = [version, gen.decode(), digest.hex(), page.card_rev, page.etag, page.last_modified]
    return _FORMAT + orjson.dumps(head) + b"\n" + zlib.compress(page.html, 1)


def decode_shared(raw: bytes | None) -> KeptPage | None:
    """Return the page encode_shared gave raw, or None for none or another format."""
    if not raw or not raw.startswith(_FORMAT):
        return None
    head, _, body = raw[len(_FORMAT) :].partition(b"\n")
    version, gen, digest, card_rev, etag, last_modified = orjson.loads(head)
    return KeptPage(
        (version, gen.encode(), bytes.fromhex(digest)),
        card_rev,
        zlib.decompress(body),
        etag,
        last_modified,
    )


def find_page(film_id: str, key: tuple, variant: str | None) -> KeptPage | None:
    """Return the page for key that this process kept, or else one another process shared
    under variant (None: not shared), while it is still current; else None.

    Current means still_made_from: the index version, the cards generation (so the film, its
    reviews and every listed card) and the film's list are those the page was made from. A
    page from Redis costs one MGET more than a kept one (two when the index version changed
    since this process last saw it), and this process keeps it then.
    """
    pages = current_app.extensions["recs"]["html"]
    kept = pages.get(key)
    if (
        kept is not None
        and request.environ.get(CHECKED) is not kept  # pagefront asked Redis already
        and still_made_from(store(), film_id, kept.made_from, kept.card_rev, primary_store())
    ):
        return kept
    if variant is None or pages.shared_ttl <= 0:
        return None
    s = store()
    guess = pages.version
    version, gen, blob, raw = s.read_shared_page(film_id, variant, guess)
    pages.version = version
    shared = decode_shared(raw)
    if shared is None or shared.made_from[:2] != (version, gen):
        return None
    if version == guess:  # the MGET brought the list of the current version
        current = (
            blob is not None
            and list_digest(blob) == shared.made_from[2]
            and not primary_ahead(s, primary_store(), film_id, shared.card_rev)
        )
    else:
        current = still_made_from(s, film_id, shared.made_from, shared.card_rev, primary_store())
    if not current:
        return None
    pages.put(key, shared)
    return shared


def keep_page(film_id: str, key: tuple, variant: str | None, page: KeptPage) -> None:
    """Keep a page made from a fresh list in this process and, under variant, for the others."""
    pages = current_app.extensions["recs"]["html"]
    pages.put(key, page)
    pages.version = page.made_from[0]
    if variant is None or pages.shared_ttl <= 0:
        return
    try:
        primary_store().put_shared_page(film_id, variant, encode_shared(page), pages.shared_ttl)
    except RedisError as exc:  # the page is served all the same; other processes render theirs
        log.warning("film page not shared", extra={"film_id": film_id, "error": str(exc)})
