"""Related titles of a film, with scores and reasons, and the film's tags."""

import hashlib
from functools import lru_cache

import orjson
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from service import caching, listcodec
from service.common import lang_arg, page_cache, page_of, primary_store, store
from service.core.excerpts import needs_reviews, resolved
from service.core.vocab import load_vocabulary
from service.fastpaths import dump_rec_page, offer_answer, plain_query, query_args
from service.labels import LABELS, LANGS, tag_name
from service.listcodec import AGREEMENT_REASON
from service.schemas import PageSchema, Timestamp
from service.storage import NotFound, Store

URL_PREFIX = "/api/v1"
blp = Blueprint("recommendations", __name__, description="Related titles and tags")


class RecArgs(Schema):
    limit = fields.Integer(
        validate=validate.Range(1, 100),
        metadata={"description": "Items per page (alias of page_size)"},
    )
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100))
    page_size = fields.Integer(validate=validate.Range(1, 100))
    exclude = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "Comma-separated film ids to leave out"},
    )
    lang = lang_arg()


# RecArgs as the fast path parses it (service/fastpaths.py)
plain_rec_args = plain_query(RecArgs)


class TagArgs(Schema):
    lang = lang_arg()


class ReasonSchema(Schema):
    tag = fields.String()
    label = fields.String()
    share = fields.Float(metadata={"description": "Share of the score this tag contributed"})


class RelatedSchema(Schema):
    id = fields.String()
    title = fields.String()
    year = fields.Integer(allow_none=True)
    score = fields.Float()
    reasons = fields.List(fields.Nested(ReasonSchema))


class RecPage(PageSchema):
    film_id = fields.String()
    status = fields.String(
        metadata={"description": "fresh, stale (a refresh is queued) or pending (none yet)"}
    )
    computed_at = Timestamp(allow_none=True)
    index_version = fields.Integer()
    job_id = fields.String(allow_none=True)
    results = fields.List(fields.Nested(RelatedSchema))


class ExcerptSchema(Schema):
    source = fields.String(metadata={"description": "synopsis or review"})
    words = fields.List(fields.String(), metadata={"description": "The words that matched"})
    text = fields.String(metadata={"description": "The sentence they are in, cut short"})


class TagSchema(Schema):
    tag = fields.String()
    label = fields.String()
    kind = fields.String(allow_none=True)
    weight = fields.Float()
    sources = fields.List(fields.String())
    evidence = fields.List(
        fields.String(),
        metadata={
            "description": "Up to 5 words behind the tag: genre or keyword names, matched words, "
            "(for a tag only inherited) its children, or (for a borrowed keyword, kind "
            "'borrowed') the ids of the films that lent it"
        },
    )
    excerpts = fields.List(
        fields.Nested(ExcerptSchema),
        dump_default=[],
        metadata={
            "description": "Up to 3 sentences of the synopses and reviews the tag was read in, "
            "to trace a wrong tag (then block it with blocked_tags)"
        },
    )


class TagsResponse(Schema):
    film_id = fields.String()
    status = fields.String()
    pinned_tags = fields.List(fields.String())
    blocked_tags = fields.List(fields.String())
    tags = fields.List(fields.Nested(TagSchema))


@lru_cache(maxsize=200_000)
def tag_label(tag: str, lang: str) -> str:
    """Return a reason's display label (the vocabulary is loaded once per process, so cache it)."""
    if tag == AGREEMENT_REASON:
        return LABELS[lang]["like_best"]
    return load_vocabulary().label(tag, lang)


@lru_cache(maxsize=200_000)
def _label_and_key(tag: str, lang: str) -> tuple[str, str, bool]:
    """Return a tag's label, the key chips merge on, and whether it names a genre."""
    label = tag_label(tag, lang)
    return label, label.casefold(), load_vocabulary().kind(tag) == "genre"


def warm_labels(app) -> int:
    """Label every tag films carry, in both languages, and return how many tags there are.

    gunicorn's master calls this before forking (config/gunicorn.conf.py): each worker then
    starts with the labels cached, also after max_requests recycles it, instead of paying
    a keyword lookup in the vocabulary (~0.1 ms) for each tag it shows the first time.
    """
    with app.app_context():
        tags = store().tag_ids()
    for lang in LANGS:
        for tag in tags:
            _label_and_key(tag, lang)
    return len(tags)


# The OpenAPI example of a related-titles answer.
RECS_EXAMPLE = {
    "film_id": "love-911",
    "status": "fresh",
    "computed_at": "2026-05-01T10:00:02+00:00",
    "index_version": 3,
    "job_id": None,
    "page": 1,
    "total_pages": 3,
    "total_results": 50,
    "results": [
        {
            "id": "ladder-49",
            "title": "Ladder 49",
            "year": 2004,
            "score": 0.61,
            "reasons": [
                {"tag": "firefighter", "label": "Feuerwehr", "share": 0.52},
                {"tag": "grief", "label": "Trauer", "share": 0.21},
            ],
        },
    ],
}


def labelled_reasons(reasons: list, lang: str) -> list[dict]:
    """Return reasons labelled in lang, what is specific first (themes, keywords, plot), then
    the likeness to the best matches (`like:*`, which names nothing the two films share), then
    genres, each biggest share first; tags that read the same merge.

    A keyword and the vocabulary tag it maps to (kw:firefighter, firefighter) both read
    "Feuerwehr": shown once, with their shares added; so do the plot words ("Ähnliche
    Handlung").
    """
    chips: dict[str, dict] = {}
    for tag, share in reasons:
        label, key, is_genre = _label_and_key(tag, lang)
        if key in chips:
            chips[key]["share"] = round(chips[key]["share"] + share, 4)
        else:  # stored shares have 4 places already (workers/index.py, the kernels): only
            # sums are rounded; 0.0 + share shows a share stored as 1 as 1.0
            group = 2 if is_genre else 1 if tag == AGREEMENT_REASON else 0
            chips[key] = {"tag": tag, "label": label, "share": 0.0 + share, "group": group}
    # stable: ties keep their order
    return [
        {"tag": c["tag"], "label": c["label"], "share": c["share"]}
        for c in sorted(chips.values(), key=_group_and_share)
    ]


def _group_and_share(chip: dict) -> tuple[int, float]:
    return chip["group"], -chip["share"]


def list_digest(blob: bytes) -> bytes:
    """Return a short digest of a stored list blob, the same in every process (the film page's
    cache shares pages between processes by it; hash() differs from one interpreter to another)."""
    return hashlib.blake2b(blob, digest_size=8).digest()


class PageCache:
    """Pages of related titles a web process made, by (film, lang, excluded ids, start, stop),
    with what they were made from: the index version, the cards generation and the list
    blob (its digest).

    A page is served again only while Redis still holds that very blob under that version
    and generation (Store.read_list_unchanged, the one read such a request makes), so it is
    never staler than a page made anew. At most `size` pages; the oldest goes first.
    """

    def __init__(self, size: int):
        self.size = size
        self.pages: dict = {}

    def get(self, key):
        return self.pages.get(key)

    def put(self, key, page) -> None:
        if self.size <= 0:
            return
        pages = self.pages
        if len(pages) >= self.size and key not in pages:
            try:
                del pages[next(iter(pages))]
            except (StopIteration, RuntimeError, KeyError):  # emptied or changed by a thread
                pass
        pages[key] = page

    def drop(self, key) -> None:
        self.pages.pop(key, None)


def related_page(
    s: Store,
    film_id: str,
    lang: str = "de",
    exclude: frozenset = frozenset(),
    start: int = 0,
    stop: int | None = None,
    *,
    primary: Store | None = None,
    pages: PageCache | None = None,
) -> dict:
    """Return related_titles' answer with "results" as their JSON bytes, as the page cache
    keeps them (bytes: nothing for the garbage collector to walk).

    s is the store read (a replica's, maybe), primary the primary's (when s is a replica),
    pages the process's page cache (None: none kept). Raises NotFound for an unknown film.
    """
    primary = primary or s
    data = _read_page(s, pages, film_id, lang, exclude, start, stop)
    # card_rev stays in the answer: the film page keeps it with the page
    if data["status"] == "fresh" and primary_ahead(s, primary, film_id, data["card_rev"]):
        data.update(status="stale", job_id=primary.pending_job(film_id))
    return data


def primary_ahead(s: Store, primary: Store, film_id: str, card_rev: int) -> bool:
    """Return whether s is a replica and the primary holds a newer revision of the film than
    the one s answered for (one HGET there): a lagging replica never passes for fresh."""
    if not s.replica:
        return False
    newest = primary.card_rev(film_id)
    return newest is not None and newest > card_rev


def _read_page(
    s: Store,
    cache: PageCache | None,
    film_id: str,
    lang: str,
    exclude: frozenset,
    start: int,
    stop: int | None,
) -> dict:
    cache = cache if cache is not None else PageCache(0)
    key = (film_id, lang, exclude, start, stop)
    kept = cache.get(key)
    if kept is not None:
        version, gen, blob_hash, card_rev, rev, computed_at, results, total = kept
        same = s.read_list_unchanged(film_id, version, gen)
        if same is not None and list_digest(same[0]) == blob_hash:
            return _answer(
                film_id,
                version,
                card_rev,
                rev,
                computed_at,
                same[1],
                results,
                total,
                (version, gen, blob_hash),
            )
    # listed films deleted meanwhile (no card) and excluded ones are left out in Redis,
    # which sends the cards of the requested page only (NotFound for an unknown film)
    card, blob, version, flat, total, pending, gen = s.read_list_parts(
        film_id, start, stop, exclude
    )
    card_rev = orjson.loads(card)["rev"]
    if blob is None:
        return _answer(film_id, version, card_rev, None, None, pending, b"[]", total, None)
    rev, computed_at, _ = listcodec.read_header(blob)
    items = []
    for item, raw in s.list_page(blob, flat):
        other = orjson.loads(raw)
        # labelled_reasons gives the dumped form already: tag, label and a float share
        items.append(
            {
                "id": item.id,
                "title": other["title"],
                "year": other.get("year"),
                "score": float(item.score),
                "reasons": labelled_reasons(item.reasons, lang),
            }
        )
    results = orjson.dumps(items)
    digest = list_digest(blob)
    cache.put(key, (version, gen, digest, card_rev, rev, computed_at, results, total))
    return _answer(
        film_id,
        version,
        card_rev,
        rev,
        computed_at,
        pending,
        results,
        total,
        (version, gen, digest),
    )


def _answer(
    film_id, version, card_rev, rev, computed_at, pending, results, total, made_from
) -> dict:
    if rev is None:
        status = "pending"
    else:
        status = "stale" if rev < card_rev else "fresh"
    return {
        "film_id": film_id,
        "status": status,
        "index_version": version,
        "computed_at": computed_at,
        "job_id": pending if status != "fresh" else None,
        "results": results,
        "total": total,
        "card_rev": card_rev,
        # (index version, cards generation, list digest) the answer was made from, for
        # a reader that keeps what it made of it (the film page); None without a list
        "made_from": made_from,
    }


def related_titles(
    s: Store,
    film_id: str,
    lang: str = "de",
    exclude: frozenset = frozenset(),
    start: int = 0,
    stop: int | None = None,
    *,
    primary: Store | None = None,
    pages: PageCache | None = None,
) -> dict:
    """Return a film's related list, best first: items start..stop with titles and labelled
    reasons, and in "total" how many items the whole list has (related_page's arguments)."""
    data = related_page(s, film_id, lang, exclude, start, stop, primary=primary, pages=pages)
    data["results"] = orjson.loads(data["results"])
    return data


def still_made_from(
    s: Store, film_id: str, made_from: tuple, card_rev: int, primary: Store | None = None
) -> bool:
    """Return whether a film's list, the index version and every card (so every film and its
    reviews: their writes bump the cards generation) are still those an answer was made from:
    one MGET (Store.read_list_unchanged). On a replica, also that the primary holds no newer
    revision of the film (a lagging replica never makes a page look fresh: one HGET more)."""
    version, gen, blob_hash = made_from
    same = s.read_list_unchanged(film_id, version, gen)
    return (
        same is not None
        and list_digest(same[0]) == blob_hash
        and not primary_ahead(s, primary or s, film_id, card_rev)
    )


def page_key(film_id: str, args: dict) -> tuple:
    """Return related_page's arguments after the store for RecArgs: film, lang, excluded ids,
    start, stop (the key of the page cache)."""
    exclude = frozenset(x.strip() for x in args.get("exclude", "").split(",") if x.strip())
    page, size = args["page"], args.get("limit") or args.get("page_size") or 20
    return film_id, args["lang"], exclude, (page - 1) * size, page * size


@blp.route("/films/<id:film_id>/recommendations")
class Recommendations(MethodView):
    init_every_request = False  # no per-request state: one instance serves every request

    @query_args(blp, RecArgs(), plain_rec_args)  # an instance: webargs builds a class per request
    @blp.response(200, RecPage, example=RECS_EXAMPLE)
    def get(self, args, film_id):
        """Related titles, best first, each with its score and the shared tags behind it"""
        key = page_key(film_id, args)
        try:
            data = related_page(store(), *key, primary=primary_store(), pages=page_cache())
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        size = key[4] - key[3]
        body = {**data, **page_of(data["results"], args["page"], size, data.pop("total"))}
        caching.describe(last_modified=data["computed_at"], fresh=data["status"] == "fresh")
        offer_answer(data)  # relatedfront replays it while it is current
        return current_app.json.response(dump_rec_page(body))


@blp.route("/films/<id:film_id>/tags")
class Tags(MethodView):
    @blp.arguments(TagArgs, location="query")
    @blp.response(200, TagsResponse)
    def get(self, args, film_id):
        """The film's tags with weights, where each came from and the words behind it"""
        s = store()
        try:
            film = s.get_film(film_id)
        except NotFound:
            abort(404, message=f"No film with id '{film_id}'.")
        stored = s.get_tags(film_id)
        found = (stored or {}).get("tags", {})
        # excerpts are stored as where they stand in the film's texts: read them there
        reviews = s.reviews_of([film_id])[film_id] if needs_reviews(found) else []
        found = resolved(found, film, reviews)
        vocab = load_vocabulary()
        tags = [
            {"tag": t, **tag_name(vocab, t, args["lang"]), **info}
            for t, info in sorted(found.items(), key=lambda kv: (-kv[1]["weight"], kv[0]))
        ]
        status = (
            "pending" if stored is None else ("fresh" if stored["rev"] >= film["rev"] else "stale")
        )
        caching.describe(fresh=status == "fresh")
        return {
            "film_id": film_id,
            "status": status,
            "tags": tags,
            "pinned_tags": film.get("pinned_tags", []),
            "blocked_tags": film.get("blocked_tags", []),
        }
