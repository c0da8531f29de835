"""The floors of docs/ARCHITECTURE.md hold: imports point down, and only storage spells keys."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Highest first. A module may import its own floor and the floors below it, never above.
WEB, JOBS, STORAGE, CORE = 4, 3, 2, 1
FLOORS = {
    # the pure core: plain functions over plain data (no Flask, no Redis, no rq)
    CORE: {
        "config.settings",
        "service.identity",
        "service.labels",
        "service.listcodec",
        "service.pagefill",
        "service.postings",
        "service.review_import",
        "service.schemas",
        "service.text",
        "service.core",  # the package service/core/: tagging, embedding, ranking, TMDB
    },
    # the one place that talks to Redis about our data (no Flask, no rq)
    STORAGE: {"service.redisconn", "service.storage"},
    # enqueueing, the worker, the job functions and what they run (no Flask)
    JOBS: {
        "service.dedupe",
        "service.importer",
        "service.jobstats",
        "service.logs",
        "service.queue",
        "service.status",
        "workers.context",
        "workers.imports",
        "workers.index",
        "workers.jobs",
        "workers.rebuild",
        "workers.worker",
    },
}
# service/ never imports workers/: the web enqueues jobs by dotted name only (service/queue.py).
# The one exception: `recs worker`, the command that starts the worker, imports the worker
# module inside that command (service/cli.py, function `worker`), so that the product is one
# command line; (module, function, imported module).
WORKER_COMMAND = ("service.cli", "worker", "workers.worker")
WEB_ONLY = ("flask", "flask_smorest", "flask_limiter", "werkzeug", "prometheus_client")


def floor_of(module: str) -> int:
    for floor, modules in FLOORS.items():
        if module in modules or any(module.startswith(m + ".") for m in modules):
            return floor
    return WEB if module.startswith("service") else JOBS  # new modules: the web's, or a job's


def product_modules() -> dict[str, Path]:
    out = {}
    for package in ("service", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    out["config.settings"] = ROOT / "config" / "settings.py"
    return out


def imports_where(path: Path) -> set[tuple[str | None, str]]:
    """Return (function, project module) for each import of a file: the outermost function it
    is in (None at module level) and the module it names (`from service.storage import Store`
    names service.storage; `from workers import jobs` names workers.jobs)."""
    tree = ast.parse(path.read_text(), str(path))
    owner = {}
    for fn in ast.walk(tree):  # breadth first: outer functions claim their nodes first
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                owner.setdefault(node, fn.name)
    modules = product_modules()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in modules else node.module for n in names]
        else:
            continue
        found.update(
            (owner.get(node), n)
            for n in names
            if n.split(".")[0] in ("service", "workers", "config")
        )
    return found


def project_imports(path: Path) -> set[str]:
    """Return the project modules a file imports, at the top or inside functions."""
    return {target for _, target in imports_where(path)}


def test_every_import_points_down_or_sideways():
    wrong = []
    for module, path in product_modules().items():
        for target in project_imports(path):
            if target in ("service", "workers", "config"):
                continue
            if floor_of(target) > floor_of(module):
                wrong.append(
                    f"{module} (floor {floor_of(module)}) imports {target} "
                    f"(floor {floor_of(target)})"
                )
    assert wrong == []


def test_service_never_imports_workers():
    """No module of service/ imports workers/, but for `recs worker` starting the worker."""
    wrong = [
        f"{module} imports {target}" + (f" in {function}()" if function else "")
        for module, path in product_modules().items()
        if module == "service" or module.startswith("service.")
        for function, target in imports_where(path)
        if (target == "workers" or target.startswith("workers."))
        and (module, function, target) != WORKER_COMMAND
    ]
    assert wrong == []


def test_recs_worker_is_the_one_exception():
    """The exception is used, where it says: `recs worker` runs workers.worker's run_worker."""
    module, function, target = WORKER_COMMAND
    assert (function, target) in imports_where(product_modules()[module])
    from service.cli import main

    assert main.commands[function].callback.__name__ == function


def modules_on(floor: int) -> list[str]:
    """Return every product module on a floor (a package named in FLOORS stands for all of it)."""
    return sorted(m for m in product_modules() if floor_of(m) == floor)


def loaded_after_import(*modules: str) -> set[str]:
    """Return the top-level packages loaded by importing modules in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_importing_the_jobs_loads_no_flask():
    loaded = loaded_after_import(*modules_on(JOBS))
    assert loaded.isdisjoint(WEB_ONLY), loaded & set(WEB_ONLY)


def test_storage_loads_no_flask_and_no_rq():
    loaded = loaded_after_import(*modules_on(STORAGE))
    assert loaded.isdisjoint((*WEB_ONLY, "rq")), loaded & {*WEB_ONLY, "rq"}


def test_the_core_loads_no_flask_redis_or_rq():
    loaded = loaded_after_import(*modules_on(CORE))
    assert loaded.isdisjoint((*WEB_ONLY, "redis", "rq")), loaded & {*WEB_ONLY, "redis", "rq"}


def test_the_package_alone_loads_no_flask():
    """`import service` is what every `from service.x import y` runs first."""
    assert loaded_after_import("service").isdisjoint(WEB_ONLY)


# A store's Redis client (`store.r`, `self.r`), its key names (`store.keys`) and its
# private writers are the storage's own; everything else goes through its methods.
STORAGE_ONLY_ATTRIBUTES = {"r", "keys", "_film_writes", "_touch_film"}


@pytest.mark.parametrize("package", ["service", "workers", "bench"])
def test_only_storage_touches_the_redis_client_or_spells_a_key(package):
    storage = {ROOT / "service" / "storage.py", ROOT / "service" / "redisconn.py"}
    storage |= set((ROOT / "service" / "storage").rglob("*.py"))
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path in storage:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
                continue
            receiver = node.value.id
            if (
                receiver in ("store", "s")
                and node.attr in STORAGE_ONLY_ATTRIBUTES
                or receiver == "self"
                and node.attr == "r"
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    if package == "bench":  # benches measure Redis itself: they may read it, never spell our keys
        wrong = [w for w in wrong if not w.endswith(" .r")]
    assert wrong == []


def test_settings_are_passed_down_not_read_from_a_module():
    """One Settings object, built once (create_app, `recs`, the worker) and passed down: no
    product module reads config.settings' names behind the app's back."""
    wrong = []
    for module, path in product_modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "config"
                and any(alias.name == "settings" for alias in node.names)
            ):
                wrong.append(f"{module}: from config import settings")
            elif isinstance(node, ast.Import) and any(
                a.name == "config.settings" for a in node.names
            ):
                wrong.append(f"{module}: import config.settings")
    assert wrong == []


# Domain functions of the web floor get the store (and queue, page cache) from their caller, the
# view or the `recs` command, instead of reaching into the app for them.
DOMAIN_FUNCTIONS = {
    "service.recommendations": {
        "related_page",
        "related_titles",
        "still_made_from",
        "primary_ahead",
        "_read_page",
    },
    "service.pagefill_api": {"fill", "find_film_id", "create_film", "job_failed", "wait_for_list"},
    "service.films": {"with_jobs", "create_with_free_id"},
    "service.imports": {"enqueue_import"},
}
APP_REACHERS = {"current_app", "g", "request", "store", "primary_store", "queue", "page_cache"}


def test_domain_functions_take_the_store_as_an_argument():
    wrong, found = [], set()
    for module, names in DOMAIN_FUNCTIONS.items():
        path = product_modules()[module]
        for fn in ast.parse(path.read_text(), str(path)).body:
            if isinstance(fn, ast.FunctionDef) and fn.name in names:
                found.add((module, fn.name))
                params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
                wrong += [
                    f"{module}.{fn.name} uses {node.id}"
                    for node in ast.walk(fn)
                    if isinstance(node, ast.Name)
                    and node.id in APP_REACHERS - params
                    and isinstance(node.ctx, ast.Load)
                ]
    assert found == {(m, n) for m, names in DOMAIN_FUNCTIONS.items() for n in names}
    assert wrong == []
