"""Audit the synonyms over the TMDB 5000 overviews: which fire where the film's own genres and
keywords do not back their tag, far more often than the tag's other synonyms do.

Each overview is tagged alone (extract_text). A firing of (tag, synonym) is supported when the
film's genres + keywords, mapped by the vocabulary as bench/tagging.py's TMDB check does, give
the tag, its parent or its child. Keywords are sparse, so most unsupported firings are true;
what stands out is a synonym far below its tag's other synonyms (the base): those are read.

Run: .venv/bin/python bench/synonym_audit.py [--min-firings 8] [--cut 0.5] [--show 40]
     [--lowest 30] [--examples 2] [--tag TAG] [--tmdb PATH] [--vocabulary PATH] [--no-senses]
"""

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import simplemma
from scipy.stats import binom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tagging import TMDB, own_tags, read_tmdb  # noqa: E402
from service.core.tagging import extract_text  # noqa: E402
from service.core.vocab import load_vocabulary, tokenize  # noqa: E402

P_VALUE = 0.05  # a synonym is below the cut only when its shortfall is unlikely to be chance


def synonym_key(surface: str) -> str:
    """Return the surface's English lemmas: "patients" and "patient" are one synonym."""
    return " ".join(simplemma.lemmatize(w.lower(), lang="en") for w in tokenize(surface))


def kin(vocab, tag: str) -> set[str]:
    """Return the tag, its parents and its children: what counts as support for it."""
    children = {t for t, spec in vocab.tags.items() if tag in spec.parents}
    return {tag, *vocab.tags[tag].parents, *children}


def audit(films: list[dict], vocab, n_examples: int) -> dict:
    """Return {(tag, synonym): {"n", "k", "examples"}} over the overviews, and the judged tags."""
    kins = {tag: kin(vocab, tag) for tag in vocab.tags}
    stats: dict = defaultdict(lambda: {"n": 0, "k": 0, "examples": []})
    judged: set[str] = set()  # tags some film's genres or keywords give: TMDB can judge them
    for film in films:
        truth = own_tags(film, vocab)
        judged |= {k for t in truth for k in kins[t]}
        for tag, hit in extract_text(film["overview"], "en", vocab).items():
            backed = bool(kins[tag] & truth)
            for surface in {synonym_key(s): s for s in hit["evidence"]}.values():
                entry = stats[(tag, synonym_key(surface))]
                entry["n"] += 1
                entry["k"] += backed
                said = [e["text"] for e in hit["excerpts"] if surface in e["words"]]
                if not backed and said and len(entry["examples"]) < n_examples:
                    entry["examples"].append(f"{film['title']}: {said[0]}")
    return {"stats": dict(stats), "judged": judged}


def below_cut(result: dict, min_firings: int, cut: float) -> tuple[list[dict], float]:
    """Return the synonyms far below their base (the tag's other synonyms, else the overall
    rate), most surprising first, and the overall support rate of judged tags."""
    stats, judged = result["stats"], result["judged"]
    per_tag: dict = defaultdict(lambda: [0, 0])
    for (tag, _), s in stats.items():
        per_tag[tag][0] += s["n"]
        per_tag[tag][1] += s["k"]
    n_all = sum(n for t, (n, _) in per_tag.items() if t in judged)
    overall = sum(k for t, (_, k) in per_tag.items() if t in judged) / max(1, n_all)
    rows = []
    for (tag, word), s in stats.items():
        if tag not in judged or s["n"] < min_firings:
            continue
        others_n, others_k = per_tag[tag][0] - s["n"], per_tag[tag][1] - s["k"]
        base = others_k / others_n if others_n >= min_firings else overall
        rate = s["k"] / s["n"]
        p = binom.cdf(s["k"], s["n"], base)  # P(X <= k) for X ~ Binomial(n, base)
        if rate < cut * base and p < P_VALUE:
            rows.append({"tag": tag, "word": word, "rate": rate, "base": base, "p": p, **s})
    return sorted(rows, key=lambda r: (r["p"], r["rate"])), overall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-firings", type=int, default=8, help="films a synonym fires in")
    parser.add_argument("--cut", type=float, default=0.5, help="below this share of its base")
    parser.add_argument("--show", type=int, default=40, help="synonyms listed")
    parser.add_argument("--lowest", type=int, default=30, help="lowest rates listed")
    parser.add_argument("--examples", type=int, default=2, help="unsupported sentences each")
    parser.add_argument("--tag", help="list every synonym of this tag, with its examples")
    parser.add_argument("--tmdb", type=Path, default=TMDB, help="tmdb_5000_movies.csv")
    parser.add_argument("--vocabulary", help="a vocabulary file or folder (default: config's)")
    parser.add_argument("--no-senses", action="store_true", help="drop the sense rules")
    args = parser.parse_args(argv)

    vocab = load_vocabulary(args.vocabulary, senses=not args.no_senses)
    films = read_tmdb(args.tmdb)
    start = time.perf_counter()
    result = audit(films, vocab, args.examples)
    stats = result["stats"]
    rows, overall = below_cut(result, args.min_firings, args.cut)
    frequent = [key for key, s in stats.items() if s["n"] >= args.min_firings]
    judged = [key for key in frequent if key[0] in result["judged"]]
    print(
        f"{len(films)} overviews in {time.perf_counter() - start:.1f} s: "
        f"{sum(s['n'] for s in stats.values())} firings of {len(stats)} (tag, synonym) pairs; "
        f"{len(frequent)} fire in >= {args.min_firings} films, {len(judged)} of them for tags "
        f"TMDB's genres/keywords can judge; overall support {overall:.3f}"
    )
    print(
        f"below the cut (support < {args.cut} x base, binomial p < {P_VALUE}): {len(rows)}\n"
        f"  {'tag':24} {'synonym':18} {'films':>5} {'backed':>6} {'rate':>5} {'base':>5} {'p':>7}"
    )
    for r in rows[: args.show]:
        print(
            f"  {r['tag']:24} {r['word']:18} {r['n']:>5} {r['k']:>6} {r['rate']:>5.2f}"
            f" {r['base']:>5.2f} {r['p']:>7.1e}"
        )
        for example in r["examples"]:
            print(f"      {example}")
    lowest = sorted(
        (s["k"] / s["n"], -s["n"], tag, word)
        for (tag, word), s in stats.items()
        if tag in result["judged"] and s["n"] >= args.min_firings
    )
    print(f"\nlowest support of all {len(judged)} (tag, synonym) pairs judged:")
    for rate, n, tag, word in lowest[: args.lowest]:
        print(f"  {tag:24} {word:18} {-n:>5} {rate:>5.2f}")
    if args.tag:
        print(f"\nevery synonym of {args.tag}:")
        for (tag, word), s in sorted(stats.items(), key=lambda kv: -kv[1]["n"]):
            if tag == args.tag:
                print(f"  {word:24} {s['n']:>5} {s['k']:>6} {s['k'] / s['n']:>5.2f}")
                for example in s["examples"]:
                    print(f"      {example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
