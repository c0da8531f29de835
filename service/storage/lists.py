"""Related-title lists: read in one script, written whole or patched in place."""

import json

import orjson

from service.listcodec import RelatedItem
from service.storage.base import NotFound


class Lists:
    """The related-title lists of a Store."""

    # -- related-title lists -------------------------------------------------
    def index_version(self) -> int:
        return int(self.r.get(self.keys.version()) or 0)

    def read_list_parts(
        self, fid: str, start: int = 0, stop: int | None = None, exclude=()
    ) -> tuple:
        """Return (film card, list blob or None, index version, page, kept, pending refresh
        job id or None, cards generation) as Redis sends them, in one round trip.

        Of the listed films that still have a card and are not in exclude, `kept` is how many
        there are and `page` is a flat [position in the list (1-based), card JSON, ...] of
        items start..stop.
        """
        head, tail = self.keys.related_list_around(fid)
        card, blob, ver, flat, pending, kept, gen = self._read_list(
            keys=[
                self.keys.version(),
                self.keys.cards(),
                self.keys.cards_gen(),
                self.keys.pending(fid),
            ],
            args=[head, fid, tail, start, -1 if stop is None else stop, *exclude],
        )
        if card is None:
            raise NotFound(fid)
        return card, blob, int(ver), flat, kept, pending.decode() if pending else None, gen

    def read_list_unchanged(self, fid: str, version: int, gen: bytes) -> tuple | None:
        """Return (list blob, pending refresh job id or None) of version `version` when that is
        still the index version and no card was written since cards generation `gen`, else
        None: one MGET, for a reader that kept what it made of a read_list_parts answer.

        Every card write bumps the generation in its transaction, so an unchanged generation
        means every card (the film's own, its listed films', which exist) is as it was.
        """
        ver, now_gen, pending, blob = self.r.mget(
            self.keys.version(),
            self.keys.cards_gen(),
            self.keys.pending(fid),
            self.keys.related_list(str(version), fid),
        )
        if blob is None or int(ver or 0) != version or (now_gen or b"0") != gen:
            return None
        return blob, pending.decode() if pending else None

    def read_list_raw(
        self, fid: str, start: int = 0, stop: int | None = None, exclude=()
    ) -> tuple[dict, dict | None, int, list[tuple[RelatedItem, bytes]], int, str | None]:
        """Return (film card, list or None, index version, page, kept, pending refresh job id
        or None), in one round trip.

        Of the listed films that still have a card and are not in exclude, `kept` is how many
        there are and `page` holds items start..stop as (list item, its card as JSON bytes);
        cards are left undecoded so a reader decodes only what it shows.
        """
        card, blob, ver, flat, kept, pending, _ = self.read_list_parts(fid, start, stop, exclude)
        lst = self.decode_list(blob) if blob else None
        return orjson.loads(card), lst, ver, self.list_page(blob, flat), kept, pending

    def read_list(self, fid: str) -> tuple[dict, dict | None, int, dict[str, dict]]:
        """Return (film card, list or None, index version, cards of listed films)."""
        card, lst, ver, page, _, _ = self.read_list_raw(fid)
        return card, lst, ver, {item.id: json.loads(raw) for item, raw in page}
