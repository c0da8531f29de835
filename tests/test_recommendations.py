"""Related titles end to end: seeds -> real rq worker -> tags and lists over REST."""

import pytest
from rq.registry import FinishedJobRegistry

from service.cli import _wait_for_rebuild
from service.core.vocab import load_vocabulary
from service.listcodec import AGREEMENT_REASON
from service.recommendations import labelled_reasons

UNRELATED = {
    "the-matrix",
    "inception",
    "interstellar",
    "oceans-eleven-2001",
    "heat-1995",
    "inside-man",
    "the-shining",
    "train-to-busan",
    "saving-private-ryan",
}


def ids(body):
    return [item["id"] for item in body["results"]]


def test_love_911_tags_cover_its_themes(client, seeded):
    body = client.get("/api/v1/films/love-911/tags").get_json()
    assert body["status"] == "fresh"
    tags = {t["tag"]: t for t in body["tags"]}
    assert {"firefighter", "medical", "grief"} <= tags.keys()
    assert "romance" in tags or "rom-com" in tags
    assert "synopsis" in tags["firefighter"]["sources"] and tags["firefighter"]["evidence"]
    assert "review" in tags["grief"]["sources"]


def test_love_911_related_titles_share_its_themes(client, seeded):
    body = client.get("/api/v1/films/love-911/recommendations?limit=10").get_json()
    assert body["status"] == "fresh" and body["computed_at"]
    top5 = ids(body)[:5]
    assert len(top5) == 5 and not UNRELATED & set(top5), top5
    for item in body["results"]:
        assert item["reasons"] and 0 < item["score"] <= 1
        assert all(r["label"] and 0 < r["share"] <= 1 for r in item["reasons"])
    scores = [item["score"] for item in body["results"]]
    assert scores == sorted(scores, reverse=True)
    labels = {r["label"] for item in body["results"] for r in item["reasons"]}
    assert labels & {"Feuerwehr", "Trauer", "Medizin", "Liebesfilm", "Romantische Komödie"}, labels


def test_paging_and_exclude(client, seeded):
    full = ids(client.get("/api/v1/films/love-911/recommendations?limit=50").get_json())
    page2 = client.get("/api/v1/films/love-911/recommendations?page_size=3&page=2").get_json()
    assert ids(page2) == full[3:6] and page2["total_results"] == len(full)
    excluded = client.get(
        f"/api/v1/films/love-911/recommendations?exclude={full[0]},{full[1]}"
    ).get_json()
    assert ids(excluded)[0] == full[2]


def test_new_firefighter_romance_appears_then_goes(client, seeded, run_jobs):
    film = {
        "id": "flammende-herzen",
        "title": "Flammende Herzen",
        "year": 2013,
        "original_language": "ko",
        "genres": ["Romance", "Comedy", "Drama"],
        "keywords": ["firefighter", "doctor", "widow", "romantic comedy", "hospital"],
        "synopsis": {
            "de": "Ein verwitweter Feuerwehrmann verliebt sich in eine Ärztin im Krankenhaus."
        },
    }
    resp = client.post("/api/v1/films", json=film)
    job_id = resp.get_json()["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "queued"
    assert (
        client.get("/api/v1/films/flammende-herzen/recommendations").get_json()["status"]
        == "pending"
    )
    run_jobs()
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished"
    assert "flammende-herzen" in ids(
        client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    )
    own = client.get("/api/v1/films/flammende-herzen/recommendations").get_json()
    assert own["status"] == "fresh" and ids(own)[0] == "love-911"

    client.delete("/api/v1/films/flammende-herzen")
    assert "flammende-herzen" not in ids(
        client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    )
    run_jobs()
    _, lst, version, _ = seeded.read_list("love-911")
    assert "flammende-herzen" not in [item[0] for item in lst["items"]]
    assert seeded.get_lists(version, ["flammende-herzen"]) == [None]


def test_review_change_makes_list_stale_then_fresh(client, seeded, run_jobs):
    resp = client.post(
        "/api/v1/films/heat-1995/reviews",
        json={"body": "Ein Feuerwehrmann trauert.", "language": "de"},
    )
    assert client.get("/api/v1/films/heat-1995/recommendations").get_json()["status"] == "stale"
    assert (
        client.get("/api/v1/films/heat-1995/recommendations").get_json()["job_id"]
        == resp.get_json()["job_id"]
    )
    run_jobs()
    assert client.get("/api/v1/films/heat-1995/recommendations").get_json()["status"] == "fresh"


def test_rebuild_fans_out_and_switches_version(app, client, seeded, run_jobs):
    from service.queue import enqueue_rebuild

    before = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    job_id = enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
    run_jobs(REBUILD_CHUNK=7, RANK_CHUNK=7)  # the snapshot job ranks 7, 7 more jobs the rest
    progress = seeded.rebuild_progress(job_id)
    assert (
        progress["phase"] == "done"
        and progress["ranked"] == progress["total"] == seeded.count_films()
        and progress["steps"] == 2  # extracted and ranked
    )
    after = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    assert after["index_version"] == before["index_version"] + 1
    assert ids(after) == ids(before)
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["progress"]["phase"] == "done"
    # the snapshot and its revisions go with the switch (they were kept a day)
    assert not list(seeded.r.scan_iter(match=seeded.keys.join("blob", "*")))


def test_a_rebuild_embeds_only_the_films_whose_text_or_model_changed(
    app, seeded, run_jobs, monkeypatch, runner, capsys
):
    from service.core import embedding
    from service.queue import enqueue_rebuild

    ids = seeded.film_ids()
    before = seeded.get_embeddings(ids)
    job_id = enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
    run_jobs(REBUILD_CHUNK=7)
    progress = seeded.rebuild_progress(job_id)
    assert progress["extracted"] == len(ids) and progress["embedded"] == 0
    assert seeded.get_embeddings(ids) == before  # kept to the byte
    # a film saved before the key existed, or another model, is embedded again
    doc = seeded.get_tags("love-911")
    del doc["embedded"]
    love = before[ids.index("love-911")]
    assert seeded.save_tags("love-911", doc, seeded.get_vectors(["love-911"])[0], love)
    job_id = enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
    run_jobs()
    assert seeded.rebuild_progress(job_id)["embedded"] == 1
    monkeypatch.setattr(embedding, "_model_id", lambda: b"another model")
    result = runner("rebuild")  # queued; the CLI's wait is for a listening worker
    assert result.exit_code == 0, result.output
    run_jobs()
    progress = seeded.rebuild_progress(result.output.split()[-1])
    with_text = sum(e is not None for e in before)
    assert progress["embedded"] == with_text and seeded.get_embeddings(ids) == before
    # `recs rebuild --wait` ends by saying so
    from service.cli import _wait_for_rebuild

    _wait_for_rebuild(seeded, app.extensions["recs"]["queue"], result.output.split()[-1])
    assert f"{with_text} of {len(ids)} films embedded" in capsys.readouterr().out


@pytest.mark.parametrize("rank_chunk", [7, 50000])
def test_ranking_only_rebuild_ranks_the_stored_tags(
    app, client, seeded, run_jobs, rank_chunk, monkeypatch, capsys
):
    # one part: ranked and switched in the starting job; several: ranking jobs, then the switch
    from service.queue import enqueue_rebuild
    from workers import rebuild

    shed = []  # the ranking jobs give back the tagging models only in a large catalog
    monkeypatch.setattr(rebuild, "shed_text_models", lambda: shed.append(1))

    before = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    job_id = enqueue_rebuild(seeded, app.extensions["recs"]["queue"], reuse_tags=True)
    run_jobs(RANK_CHUNK=rank_chunk)
    progress = seeded.rebuild_progress(job_id)
    assert progress["phase"] == "done" and progress["ranked"] == seeded.count_films()
    assert progress.get("extracted", 0) == 0  # tags reused, not extracted
    assert progress["steps"] == 1  # so `recs rebuild --reuse-tags --wait` ends at 100%
    described = client.get(f"/api/v1/jobs/{job_id}").get_json()["description"]
    assert described == "full rebuild, ranking only (tags reused)"
    _wait_for_rebuild(seeded, app.extensions["recs"]["queue"], job_id)
    assert f"{seeded.count_films()}/{seeded.count_films()}" in capsys.readouterr().err
    after = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    assert after["index_version"] == before["index_version"] + 1
    assert after["results"] == before["results"]
    queue = app.extensions["recs"]["queue"]
    started = queue.fetch_job(job_id).return_value()  # it snapshots, with the tags reused
    finished = [queue.fetch_job(j) for j in FinishedJobRegistry(queue=queue).get_job_ids()]
    ranked = [j.return_value() for j in finished if j.func_name.endswith(".rank_chunk")]
    if rank_chunk < seeded.count_films():
        # more parts than workers (one here): a ranking job each, the snapshot job ranks none
        # (its memory goes first)
        assert started["rank_jobs"] == len(ranked) == -(-seeded.count_films() // rank_chunk)
        assert sum(ranked) == seeded.count_films()
        assert len(shed) == 1 + len(ranked)  # RANK_CHUNK films or more: every job sheds
    else:
        assert started["rank_jobs"] == 0 and not ranked
        assert not shed


def test_ranking_is_split_over_the_listening_workers():
    from workers.rebuild import rank_parts

    assert rank_parts(4803, 1, 50000) == [(0, 4803)]
    assert rank_parts(4803, 2, 50000) == [(0, 2402), (2402, 4803)]
    assert rank_parts(300, 4, 50000) == [(0, 300)]  # never below 500 rows a job
    assert rank_parts(100000, 2, 50000) == [(0, 50000), (50000, 100000)]
    parts = rank_parts(120000, 1, 50000)
    assert len(parts) == 3 and parts[-1] == (100000, 120000)  # at most RANK_CHUNK rows a job
    assert rank_parts(0, 3, 50000) == []


def test_ranking_threads_share_the_machine_among_the_listening_workers(monkeypatch):
    from config.settings import Settings
    from workers import rebuild

    monkeypatch.setattr(rebuild.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for setting, workers, threads in [
        (0, 1, 4),
        (0, 2, 2),
        (0, 3, 1),
        (0, 8, 1),
        (0, 0, 4),
        (3, 8, 3),
    ]:
        settings = Settings.from_env({"RECS_RANK_THREADS": str(setting)})
        monkeypatch.setattr(rebuild, "job_settings", lambda s=settings: s)
        assert rebuild.rank_threads(workers) == threads, (setting, workers)


def test_failed_rebuild_keeps_old_index(app, client, seeded, run_jobs, monkeypatch):
    from service.queue import enqueue_rebuild
    from workers import rebuild

    before = client.get("/api/v1/films/love-911/recommendations").get_json()

    def broken(*args, **kwargs):
        raise ValueError("bad data")

    monkeypatch.setattr(rebuild.similarity, "iter_related_packed", broken)
    job_id = enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
    run_jobs()
    assert seeded.rebuild_progress(job_id)["phase"] == "failed"
    after = client.get("/api/v1/films/love-911/recommendations").get_json()
    assert after["index_version"] == before["index_version"] and ids(after) == ids(before)
    monkeypatch.undo()
    second = enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
    run_jobs()
    assert seeded.rebuild_progress(second)["phase"] == "done"


def test_film_without_tags_gets_an_empty_fresh_list(client, run_jobs):
    job_id = client.post("/api/v1/films", json={"id": "blank", "title": "Blank"}).get_json()[
        "job_id"
    ]
    run_jobs()
    assert client.get(f"/api/v1/jobs/{job_id}").get_json()["state"] == "finished"
    body = client.get("/api/v1/films/blank/recommendations").get_json()
    assert (body["status"], body["results"]) == ("fresh", [])


def test_reasons_with_the_same_label_are_merged_and_genres_come_last(client, seeded):
    vocab = load_vocabulary()
    for lang in ("de", "en"):
        body = client.get(f"/api/v1/films/love-911/recommendations?limit=20&lang={lang}").get_json()
        for item in body["results"]:
            labels = [r["label"].casefold() for r in item["reasons"]]
            assert len(labels) == len(set(labels)), item
            # specific chips, then the likeness to the best matches, then genres
            group = [
                2 if vocab.kind(r["tag"]) == "genre" else int(r["tag"] == AGREEMENT_REASON)
                for r in item["reasons"]
            ]
            assert group == sorted(group), item
            for part in (0, 1, 2):  # each biggest share first
                shares = [r["share"] for r, g in zip(item["reasons"], group) if g == part]
                assert shares == sorted(shares, reverse=True), item
            assert sum(r["share"] for r in item["reasons"]) <= 1.0001


def test_the_likeness_to_the_best_matches_is_a_chip_after_the_tags_before_the_genres():
    reasons = [["like:*", 0.4], ["genre:drama", 0.3], ["firefighter", 0.2], ["plot:*", 0.1]]
    for lang, like in (("de", "Wie die besten Treffer"), ("en", "Like the best matches")):
        got = [(r["tag"], r["label"]) for r in labelled_reasons(reasons, lang)]
        assert [tag for tag, _ in got] == ["firefighter", "plot:*", "like:*", "genre:drama"]
        assert got[2][1] == like


def test_labelled_reasons_put_specific_chips_first_and_merge_a_keyword_with_its_tag():
    reasons = [
        ["genre:drama", 0.5],
        ["kw:firemen", 0.2],
        ["firefighter", 0.1],
        ["plot:hose", 0.05],
        ["plot:blaze", 0.05],
    ]
    for lang in ("de", "en"):
        got = [(r["label"], r["share"]) for r in labelled_reasons(reasons, lang)]
        fire, plot, drama = (
            load_vocabulary().label(t, lang) for t in ("firefighter", "plot:x", "drama")
        )
        assert got == [(fire, 0.3), (plot, 0.1), (drama, 0.5)]


def test_film_created_again_continues_its_revisions(client, store, run_jobs):
    """Delete then create under the same id: the old film's tags and list (rev 3) never win."""
    film = {"id": "again", "title": "Again", "keywords": ["firefighter", "grief"]}
    client.post(
        "/api/v1/films", json={"id": "other", "title": "Other", "keywords": ["firefighter"]}
    )
    client.post("/api/v1/films", json=film)
    client.patch("/api/v1/films/again", json={"year": 1999})
    client.patch("/api/v1/films/again", json={"year": 2000})
    run_jobs()
    assert store.get_tags("again")["rev"] == 3
    assert client.delete("/api/v1/films/again").status_code == 200
    body = client.post("/api/v1/films", json={**film, "keywords": ["hospital"]}).get_json()
    assert body["rev"] == 4  # not 1: the old film's leftovers carry rev 3
    run_jobs()
    assert store.get_tags("again")["rev"] == 4
    assert "firefighter" not in {
        t["tag"] for t in client.get("/api/v1/films/again/tags").get_json()["tags"]
    }
    assert client.get("/api/v1/films/again/recommendations").get_json()["status"] == "fresh"
    # an older job's writes (computed from the deleted film's rev 3) are refused
    assert not store.save_tags("again", {"rev": 3, "tags": []}, {})
    assert not store.write_own_list(store.index_version(), "again", 3, [])
    # bulk imports continue the revisions too
    client.delete("/api/v1/films/again")
    assert store.upsert_films([{"id": "again", "title": "Again"}]) == ["created"]
    assert store.get_film("again")["rev"] == 5 and not store.r.exists(
        store.keys.join("tomb", "again")
    )


def test_pinned_and_blocked_tags_survive_reextraction(app, client, seeded, run_jobs):
    from service.queue import enqueue_rebuild

    resp = client.patch(
        "/api/v1/films/love-911", json={"pinned_tags": ["wedding"], "blocked_tags": ["grief"]}
    )
    assert resp.status_code == 200
    run_jobs()
    for _ in range(2):  # after the incremental refresh, then after a full re-extraction
        body = client.get("/api/v1/films/love-911/tags").get_json()
        tags = {t["tag"]: t for t in body["tags"]}
        assert "pinned" in tags["wedding"]["sources"] and "grief" not in tags
        assert (body["pinned_tags"], body["blocked_tags"]) == (["wedding"], ["grief"])
        enqueue_rebuild(seeded, app.extensions["recs"]["queue"])
        run_jobs()


def test_patched_lists_stay_ordered_and_read_as_written(client, seeded, run_jobs):
    client.post(
        "/api/v1/films",
        json={
            "id": "brand-new",
            "title": "Brand New",
            "genres": ["Romance"],
            "keywords": ["firefighter", "widow"],
        },
    )
    run_jobs()  # an incremental refresh patches other films' lists (service/storage.py's Lua)
    client.delete("/api/v1/films/ghost")
    run_jobs()
    version = seeded.index_version()
    patched = 0
    for fid in seeded.film_ids():
        lst = seeded.get_lists(version, [fid])[0]
        scores = [item[1] for item in lst["items"]]
        assert scores == sorted(scores, reverse=True), fid
        ids = [item[0] for item in lst["items"]]
        assert "ghost" not in ids and fid not in ids and len(set(ids)) == len(ids), fid
        patched += "brand-new" in ids and fid != "brand-new"
        _, read, _, cards = seeded.read_list(fid)  # the read script walks the packed items
        assert read == lst and list(cards) == [i for i in ids if i in cards], fid
    assert patched


def test_served_lists_are_the_ranked_items_labelled(app, client, seeded):
    """The stored bytes decode back to the ranking's items: ids, scores, reason tags, shares."""
    from service.core import similarity
    from service.recommendations import labelled_reasons
    from workers import index, rebuild

    knobs = index.params(app.extensions["recs"]["settings"])
    cat, _ = rebuild.snapshot(seeded, knobs)
    cards = seeded.get_cards(cat.ids)
    ranked = similarity.related_rows(cat, range(len(cat.ids)), knobs)
    assert sum(map(len, ranked)) > 100
    for fid, related in zip(cat.ids, ranked):
        for lang in ("de", "en"):
            body = client.get(f"/api/v1/films/{fid}/recommendations?limit=100&lang={lang}")
            expected = [
                {
                    "id": other,
                    "title": cards[other]["title"],
                    "year": cards[other]["year"],
                    "score": score,
                    "reasons": labelled_reasons(reasons, lang),
                }
                for other, score, reasons in map(index.as_item, related)
            ]
            assert body.get_json()["results"] == expected, (fid, lang)


def test_a_reader_notices_a_tag_dictionary_it_did_not_read(app, client, seeded, run_jobs):
    """Redis lost its tag dictionary (restored from an older backup, say) and numbered the
    tags anew: a process that cached the old numbers must not name tags by them."""
    from service.queue import enqueue_rebuild

    before = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    assert before["results"] and before["results"][0]["reasons"]
    lost = [seeded.keys.join("tag", name) for name in ("numbers", "names", "mark")]
    seeded.r.delete(*lost, *seeded.r.scan_iter(match=seeded.keys.join("tagn", "*")))
    seeded.tag_numbers(["kw:numbered-first", "kw:numbered-second"])  # every tag moves by two
    enqueue_rebuild(seeded, app.extensions["recs"]["queue"], reuse_tags=True)
    run_jobs()
    after = client.get("/api/v1/films/love-911/recommendations?limit=50").get_json()
    assert after["index_version"] > before["index_version"]
    assert after["results"] == before["results"]
