"""Every Redis key name of filmrecs: the one module that spells them.

Keys(prefix) names the keys of one key prefix; the storage modules ask it, and the Lua scripts
get key names (or, for keys they build, the prefix of their family) from it. The families and
their sizes are in docs/ARCHITECTURE.md, "What one Redis holds".
"""


class Keys:
    """The key names under one prefix (`recs:` by default)."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def join(self, *parts: str) -> str:
        """Return the key of parts under the prefix (the methods below name each family; tests
        and tools that look into a family join their own)."""
        return self.prefix + ":".join(parts)

    def blob(self, name: str) -> str:
        """A rebuild's catalog snapshot."""
        return self.join("blob", name)

    def borrower(self) -> str:
        """The catalog's borrower (service/core/borrow.py): a blob, and its version."""
        return self.join("borrower")

    def borrower_version(self) -> str:
        return self.join("borrower", "version")

    def cards(self) -> str:
        """Film id -> card (title, year, rev)."""
        return self.join("cards")

    def cards_gen(self) -> str:
        """The cards generation: bumped by every write of the cards hash."""
        return self.join("cards", "gen")

    def df(self) -> str:
        """Tag -> document frequency, as an older version kept it (one hash)."""
        return self.join("df")

    def df_bucket_prefix(self) -> str:
        """The prefix of the document-frequency buckets: tag -> how many films carry it, in
        the bucket of the tag's CRC-32 (storage.tags.df_bucket)."""
        return self.join("dfb", "")

    def dirty(self) -> str:
        """Films written since their last refresh."""
        return self.join("dirty")

    def embeddings(self) -> str:
        """Film id -> plot embedding, as an older version kept them (now in tags())."""
        return self.join("emb")

    def film(self, fid: str) -> str:
        """A film's record (compressed JSON: service/storage/documents.py)."""
        return self.join("film", fid)

    def films(self) -> str:
        """Every film id, by creation time (sorted set)."""
        return self.join("films")

    def genre(self, genre: str) -> str:
        """The films of a (folded) genre."""
        return self.join("genre", genre)

    def meta(self) -> str:
        """Film id -> what the ranking reads of it (documents.pack_meta)."""
        return self.join("meta")

    def metrics_index(self) -> str:
        """When lists were computed and switched in."""
        return self.join("metrics", "index")

    def metrics_jobs(self) -> str:
        """Job counters by kind."""
        return self.join("metrics", "jobs")

    def page(self, variant: str, fid: str) -> str:
        """A rendered film page shared by the web processes."""
        return self.join("page", variant, fid)

    def pending(self, fid: str) -> str:
        """A film's latest refresh job."""
        return self.join("pending", fid)

    def plot_space(self) -> str:
        """The catalog's plot space (service/core/plotspace.py): a blob, and its version."""
        return self.join("plotspace")

    def plot_space_version(self) -> str:
        return self.join("plotspace", "version")

    def popularity(self) -> str:
        """The films of highest popularity."""
        return self.join("popularity")

    def popularity_floor(self) -> str:
        """The popularity the kept films reach."""
        return self.join("popularity", "floor")

    def posting_bucket_prefix(self) -> str:
        """The prefix of the posting buckets (for Lua)."""
        return self.join("postb", "")

    def posting_prefix(self) -> str:
        """The prefix of a tag's own posting (for Lua)."""
        return self.join("post", "")

    def rebuild(self, rebuild_id: str) -> str:
        """A rebuild's progress."""
        return self.join("rebuild", rebuild_id)

    def rebuild_active(self) -> str:
        """The running rebuild."""
        return self.join("rebuild", "active")

    def rebuild_next(self) -> str:
        """The rebuild waiting for it."""
        return self.join("rebuild", "next")

    def rebuild_touched(self) -> str:
        """Films written while a rebuild runs."""
        return self.join("rebuild", "touched")

    def reconcile_lock(self) -> str:
        """One worker reconciles dirty films at a time."""
        return self.join("reconcile", "lock")

    def reconcile_seen(self) -> str:
        """Dirty films without a live job, as last seen."""
        return self.join("reconcile", "seen")

    def related_list(self, version: str, fid: str) -> str:
        """A film's related-title list in an index version."""
        return self.join("idx", version, "rel", fid)

    def related_list_around(self, fid: str) -> tuple[str, str]:
        """What stands before and after the index version in fid's list key (the list read
        joins them around the version it reads)."""
        head, _, tail = self.related_list("\0", fid).partition("\0")
        return head, tail

    def related_lists_pattern(self, version: str) -> str:
        """A SCAN pattern of every list of an index version."""
        return self.join("idx", version, "rel", "*")

    def replication_fence(self) -> str:
        """What WAIT acknowledges."""
        return self.join("replication", "fence")

    def review(self, rid: str) -> str:
        """A review (JSON)."""
        return self.join("review", rid)

    def review_none(self) -> str:
        """A review key no review has (for Lua)."""
        return self.join("review", "-")

    def review_prefix(self) -> str:
        """The prefix of every review key (for Lua)."""
        return self.join("review", "")

    def reviews(self, fid: str) -> str:
        """A film's review ids."""
        return self.join("reviews", fid)

    def tag_mark(self) -> str:
        """The tag dictionary's mark."""
        return self.join("tag", "mark")

    def tag_names(self) -> str:
        """The tags by number."""
        return self.join("tag", "names")

    def tag_numbers(self) -> str:
        """Tag -> its number, as an older version kept it (one hash)."""
        return self.join("tag", "numbers")

    def tag_number_prefix(self) -> str:
        """The prefix of the tag numbers' buckets: tag -> its number, in the bucket of the
        tag's CRC-32 (storage.tags.tag_bucket)."""
        return self.join("tagn", "")

    def tags(self, fid: str) -> str:
        """A film's tags with their evidence, its tag vector and its plot embedding
        (service/storage/documents.py)."""
        return self.join("tags", fid)

    def titles(self) -> str:
        """Film id -> folded titles, for title search."""
        return self.join("titles")

    def tomb(self, fid: str) -> str:
        """A deleted film's last revision (kept TOMBSTONE_TTL)."""
        return self.join("tomb", fid)

    def upload(self, upload_id: str) -> str:
        """An uploaded JSONL body, until its import job runs."""
        return self.join("upload", upload_id)

    def vector(self, fid: str) -> str:
        """A film's tag vector, as an older version kept it (now in tags())."""
        return self.join("vec", fid)

    def version(self) -> str:
        """The index version readers use."""
        return self.join("ver")

    def version_next(self) -> str:
        """The last index version handed out."""
        return self.join("ver", "next")

    def votes(self) -> str:
        """The films of highest vote count."""
        return self.join("votes")

    def votes_floor(self) -> str:
        """The vote count the kept films reach."""
        return self.join("votes", "floor")
