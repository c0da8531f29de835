"""The `recs` command: serve, worker, seed, rebuild, import, status."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from config import settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _store_and_queue():
    from service.queue import get_queue
    from service.redisconn import connect
    from service.storage import Store

    client = connect(settings.REDIS_URL, settings.RECS_DATA_DIR)
    return Store(client, settings.RECS_PREFIX), get_queue(client, settings.QUEUE_NAME)


@click.group()
def main():
    """filmrecs: related titles and reviews for film pages."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "web_workers", default=2, show_default=True, help="gunicorn workers")
@click.option("--no-seed", is_flag=True, help="Do not load the seed films into an empty store.")
def serve(host, port, web_workers, no_seed):
    """Run the web app (gunicorn) and an rq worker; start an embedded Redis if REDIS_URL is unset."""
    env = dict(os.environ)
    embedded = not settings.REDIS_URL
    if embedded:
        from service.redisconn import start_embedded

        server = start_embedded(settings.RECS_DATA_DIR)
        env["REDIS_URL"] = settings.REDIS_URL = "unix://" + server.socket_file
        click.echo(f"Embedded Redis with its data in {settings.RECS_DATA_DIR}")
    if not settings.RECS_API_KEYS and not settings.RECS_ALLOW_NO_KEYS:
        if not embedded:  # the embedded default makes a key of its own and keeps it in the data dir
            raise click.ClickException("Set RECS_API_KEYS (comma-separated) to serve with REDIS_URL.")
        settings.RECS_API_KEYS = [_local_api_key(settings.RECS_DATA_DIR)]
        env["RECS_API_KEYS"] = settings.RECS_API_KEYS[0]
        click.echo(f"API key for writes (kept in {settings.RECS_DATA_DIR}/api-key): "
                   f"{settings.RECS_API_KEYS[0]}")
    store, queue = _store_and_queue()
    if not no_seed and store.count_films() == 0:
        _seed(store, queue)
    children = [
        subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=env),
        subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(web_workers), "-b", f"{host}:{port}",
                          "--access-logfile", "-", "service:create_app()"], env=env),
    ]
    click.echo(f"\nLove 911: http://{host}:{port}/films/love-911\n"
               f"API docs: http://{host}:{port}/api/docs\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
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
    from rq import Worker

    _, queue = _store_and_queue()
    Worker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=burst)


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
def rebuild(wait):
    """Re-extract every film's tags and recompute every list (fanned out as rq jobs)."""
    from service.queue import enqueue_rebuild

    store, queue = _store_and_queue()
    job_id = enqueue_rebuild(store, queue)
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
        total = 2 * progress.get("total", 0)
        done = progress.get("extracted", 0) + progress.get("ranked", 0)
        if total and bar.total != total:
            bar.total = total
        bar.set_postfix_str(str(progress.get("phase", "queued")))
        bar.update(done - bar.n)
        if progress.get("phase") in ("done", "failed"):
            bar.close()
            if progress["phase"] == "failed":
                raise click.ClickException(f"rebuild {job_id} failed: {progress.get('error')}")
            click.echo(f"Rebuild done: version {progress.get('version')}")
            return
        time.sleep(0.3)
    raise click.ClickException(f"rebuild {job_id} still running after {timeout:.0f} s")


if __name__ == "__main__":
    main()
