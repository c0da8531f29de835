"""The `recs` command: serve, worker, seed, rebuild, import, status."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from config.settings import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"


def _settings() -> Settings:
    """Return the settings `recs` built once for this command (see main)."""
    return click.get_current_context().find_root().obj


def _store_and_queue(settings: Settings | None = None):
    from service.queue import get_queue
    from service.redisconn import connect
    from service.storage import Store

    settings = settings or _settings()
    client = connect(settings.REDIS_URL, settings.RECS_DATA_DIR)
    return Store(client, settings.RECS_PREFIX), get_queue(client, settings.QUEUE_NAME, settings)


@click.group()
@click.version_option(package_name="filmrecs", prog_name="recs")
@click.pass_context
def main(ctx):
    """filmrecs: related titles and reviews for film pages."""
    if ctx.obj is None:  # the environment's, read once; a caller may pass its own (obj=...)
        ctx.obj = Settings.from_env()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "web_workers", default=2, show_default=True, help="gunicorn workers")
@click.option("--no-seed", is_flag=True, help="Do not load the seed films into an empty store.")
def serve(host, port, web_workers, no_seed):
    """Run the web app (gunicorn) and an rq worker; start an embedded Redis if REDIS_URL is unset."""
    env, settings = dict(os.environ), _settings()
    embedded = not settings.REDIS_URL
    if embedded:
        from service.redisconn import DataDirBusy, claim_data_dir, start_embedded

        try:  # held until this process ends; a server left by a killed one is taken over
            lock = claim_data_dir(settings.RECS_DATA_DIR)  # noqa: F841
        except DataDirBusy as busy:
            raise click.ClickException(
                f"Another `recs serve` (pid {busy.pid}) serves {busy.data_dir} with its embedded "
                "Redis. Stop it first, or set RECS_DATA_DIR to another folder (or REDIS_URL to a "
                "Redis of your own)."
            ) from None
        server = start_embedded(settings.RECS_DATA_DIR)
        settings = settings.replace(REDIS_URL="unix://" + server.socket_file)
        env["REDIS_URL"] = settings.REDIS_URL
        click.echo(f"Embedded Redis with its data in {settings.RECS_DATA_DIR}")
    if not settings.RECS_API_KEYS and not settings.RECS_ALLOW_NO_KEYS:
        if not embedded:  # the embedded default makes a key of its own and keeps it in the data dir
            raise click.ClickException(
                "Set RECS_API_KEYS (comma-separated) to serve with REDIS_URL."
            )
        settings = settings.replace(RECS_API_KEYS=[_local_api_key(settings.RECS_DATA_DIR)])
        env["RECS_API_KEYS"] = settings.RECS_API_KEYS[0]
        click.echo(
            f"API key for writes (kept in {settings.RECS_DATA_DIR}/api-key): "
            f"{settings.RECS_API_KEYS[0]}"
        )
    # No proxy in front: threaded workers, so slow clients hold a thread each, not a worker.
    env.setdefault("GUNICORN_WORKER_CLASS", "config.gunicorn_worker.JsonErrorThreadWorker")
    store, queue = _store_and_queue(settings)
    if not no_seed and store.count_films() == 0:
        _seed(store, queue)
    # The same gunicorn settings as compose: the app preloaded in the master (workers answer
    # at once), the app's JSON access lines, and one Prometheus view over every worker.
    children = [
        subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=env),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(GUNICORN_CONF),
                "-w",
                str(web_workers),
                "-b",
                f"{host}:{port}",
                "service:create_app()",
            ],
            env=env,
        ),
    ]
    click.echo(
        f"\nLove 911: http://{host}:{port}/films/love-911\n"
        f"API docs: http://{host}:{port}/api/docs\n"
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C stops it even when it was started with SIGINT ignored (a background job of a
    # script: the shell ignores SIGINT there, and Python then leaves it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if embedded:  # what this command started stops with it
            from service.redisconn import stop_embedded

            store.close()
            stop_embedded(settings.RECS_DATA_DIR)
    sys.exit(max(child.returncode or 0 for child in children))


def _local_api_key(data_dir: str) -> str:
    """Return the embedded server's API key, made once and kept in data_dir (mode 0600)."""
    import secrets

    path = Path(data_dir) / "api-key"
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    key = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Run an rq worker on the filmrecs queue (JSON serializer)."""
    import logging

    from service.logs import configure_logging
    from workers.worker import run_worker  # service/'s one import of workers/ (WORKER_COMMAND)

    configure_logging()
    store, queue = _store_and_queue()
    logging.getLogger("recs.worker").info(
        "loading the tag vocabulary and the ranking kernels (compiled on the first start after "
        "an install or upgrade, 20-30 s; cached after that)"
    )
    run_worker(queue, store, burst=burst, logging_level="INFO")


def _seed(store, queue):
    from service.importer import import_rows, read_jsonl
    from service.queue import enqueue_rebuild

    for name in ("films.jsonl", "reviews.jsonl"):
        with open(SEEDS / name, encoding="utf-8") as lines:
            report = import_rows(store, read_jsonl(lines))
        click.echo(f"seeds/{name}: {report.as_dict()}")
    job_id = enqueue_rebuild(store, queue)
    click.echo(f"Queued rebuild {job_id}")
    return job_id


@main.command()
@click.option("--wait", is_flag=True, help="Wait for the rebuild that follows.")
def seed(wait):
    """Load (or update) the seed films and reviews, then rebuild."""
    store, queue = _store_and_queue()
    job_id = _seed(store, queue)
    if wait:
        _wait_for_rebuild(store, queue, job_id)


@main.command()
@click.option("--wait", is_flag=True, help="Show progress until the new index serves.")
@click.option(
    "--reuse-tags",
    is_flag=True,
    help="Keep the stored tags, only recompute the lists (after a similarity setting change).",
)
def rebuild(wait, reuse_tags):
    """Re-extract every film's tags and recompute every list (fanned out as rq jobs)."""
    from service.queue import enqueue_rebuild

    store, queue = _store_and_queue()
    job_id = enqueue_rebuild(store, queue, reuse_tags=reuse_tags)
    click.echo(f"Queued rebuild {job_id}")
    if wait:
        _wait_for_rebuild(store, queue, job_id)


def _wait_for_rebuild(store, queue, job_id, timeout: float = 3600):
    """Show a progress bar until the rebuild is done; exit 1 if it failed."""
    from rq.job import Job
    from tqdm import tqdm

    bar = tqdm(total=0, unit="film", desc="rebuild")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = store.rebuild_progress(job_id)
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        if job.is_failed:
            bar.close()
            raise click.ClickException(f"rebuild {job_id} failed: {job.latest_result().exc_string}")
        total = progress.get("steps", 2) * progress.get("total", 0)  # ranked only: 1
        done = progress.get("extracted", 0) + progress.get("ranked", 0)
        if total and bar.total != total:
            bar.total = total
        bar.set_postfix_str(str(progress.get("phase", "queued")))
        bar.update(done - bar.n)
        if progress.get("phase") in ("done", "failed"):
            bar.close()
            if progress["phase"] == "failed":
                raise click.ClickException(f"rebuild {job_id} failed: {progress.get('error')}")
            embedded = (
                f", {progress.get('embedded', 0)} of {progress.get('extracted', 0)} films embedded"
                " (the others' texts were unchanged)"
                if "extracted" in progress
                else ""
            )
            click.echo(f"Rebuild done: version {progress.get('version')}{embedded}")
            return
        time.sleep(0.3)
    raise click.ClickException(f"rebuild {job_id} still running after {timeout:.0f} s")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for machines).")
@click.option(
    "--failed",
    "last_failed",
    default=5,
    show_default=True,
    help="How many of the latest failed jobs to show.",
)
def status(as_json, last_failed):
    """Show queues, workers, failed jobs and the index's version and age."""
    import json

    from service.status import format_report, status_report

    store, queue = _store_and_queue()
    report = status_report(store, queue, last_failed)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@main.group("import")
def import_():
    """Import films and reviews in bulk (validated, idempotent), then queue one rebuild."""


def _import_options(command):
    command = click.option("--wait", is_flag=True, help="Wait for the rebuild that follows.")(
        command
    )
    command = click.option(
        "--report",
        "report_file",
        type=click.Path(dir_okay=False, writable=True),
        help="Write the report (counts, skipped lines and reasons) as JSON.",
    )(command)
    return click.argument("path", type=click.Path(exists=True, dir_okay=False))(command)


@import_.command("tmdb")
@_import_options
def import_tmdb(path, report_file, wait):
    """Import the TMDB 5000 movies CSV (film ids tmdb-<TMDB id>)."""
    from service.importer import read_tmdb_rows

    _run_import(read_tmdb_rows(path), path, "tmdb", report_file, wait)


@import_.command("jsonl")
@_import_options
def import_jsonl(path, report_file, wait):
    """Import films (optionally with "reviews") or reviews (with "film_id"), one JSON object a line."""
    from service.importer import read_jsonl

    with open(path, encoding="utf-8-sig") as lines:
        _run_import(read_jsonl(lines), path, "jsonl", report_file, wait)


def _run_import(rows, path, kind, report_file, wait, shown: int = 20):
    """Import rows with a progress bar, print and write the report, queue one rebuild."""
    import json

    from tqdm import tqdm

    from service.importer import count_rows, import_rows, queue_rebuild

    store, queue = _store_and_queue()
    started = time.perf_counter()
    with tqdm(total=count_rows(path, kind), unit="row", desc="import") as bar:
        report = import_rows(store, rows, bar)
    seconds = time.perf_counter() - started
    click.echo(
        f"{path}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged ({report.matched} matched to a film under another id), "
        f"{report.reviews} reviews added, {report.reviews_updated} updated "
        f"({report.reviews_unchanged} unchanged), {len(report.skipped)} rows skipped "
        f"in {seconds:.2f} s"
    )
    for line, reason in report.skipped[:shown]:
        click.echo(f"  line {line}: {reason}")
    if len(report.skipped) > shown:
        click.echo(f"  ... and {len(report.skipped) - shown} more (--report FILE lists them all)")
    job_id = queue_rebuild(store, queue, report)
    if report_file:
        with open(report_file, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "path": str(path),
                    "seconds": round(seconds, 3),
                    **report.as_dict(),
                    "rebuild_job": job_id,
                },
                out,
                ensure_ascii=False,
                indent=1,
            )
    if job_id is None:
        click.echo("Nothing changed: no rebuild queued.")
        return
    click.echo(f"Queued rebuild {job_id}")
    if wait:
        _wait_for_rebuild(store, queue, job_id)


@main.command("merge-duplicates")
@click.option("--dry-run", is_flag=True, help="Only list what would be merged.")
@click.option("--wait", is_flag=True, help="Wait for the rebuild that follows.")
def merge_duplicates_cmd(dry_run, wait):
    """Merge films stored twice (same external id, or title + year) into the oldest, and drop
    repeated reviews; then rebuild."""
    from service.dedupe import merge_duplicates
    from service.queue import enqueue_rebuild

    store, queue = _store_and_queue()
    report = merge_duplicates(store, dry_run=dry_run)
    for kept, merged in report.films:
        click.echo(f"{'would merge' if dry_run else 'merged'} {merged} into {kept}")
    click.echo(
        f"{len(report.films)} films merged, {report.reviews_moved} reviews moved, "
        f"{report.reviews_removed} repeated reviews removed{' (dry run)' if dry_run else ''}"
    )
    if dry_run or not report.changed:
        return
    job_id = enqueue_rebuild(store, queue)
    click.echo(f"Queued rebuild {job_id}")
    if wait:
        _wait_for_rebuild(store, queue, job_id)


@main.command("fill-page")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--film-id", help="Fill this film's page (else found by title).")
@click.option("--create", is_flag=True, help="Add the film when no film has the page's title.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the film's related titles while they are being computed.",
)
@click.option("--timeout", default=120.0, show_default=True, type=float, help="Seconds to wait.")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Related titles to list.",
)
def fill_page(file, film_id, create, wait, timeout, limit):
    """Print a plain-text film page (FILE, or - for stdin) with Kritiken and Empfehlungen filled."""
    from service.pagefill import PageFormatError
    from service.pagefill_api import fill
    from service.storage import NotFound

    # The primary store and the queue, as the other commands wire them: no app, no pages kept.
    store, queue = _store_and_queue()
    try:
        filled = fill(
            store, queue, file.read(), film_id, timeout if wait else 0.0, limit, create=create
        )
    except PageFormatError as error:
        details = "".join(f"\n  {part}: {' '.join(msgs)}" for part, msgs in error.errors.items())
        raise click.ClickException(error.message + details) from error
    except NotFound as error:
        if film_id:
            raise click.ClickException(f"No film with id '{film_id}'.") from error
        raise click.ClickException(
            f"No film is titled '{error}'. Pass --create to add it, or "
            "--film-id to fill the page of a film by its id."
        ) from error
    if filled.created:
        click.echo(f"Created film '{filled.film_id}'.", err=True)
    if filled.status != "fresh":
        click.echo(
            f"The related titles of '{filled.film_id}' are still {filled.status}"
            f"{' (is a worker running?)' if wait else ''}.",
            err=True,
        )
    click.echo(filled.text, nl=False)


if __name__ == "__main__":
    main()
