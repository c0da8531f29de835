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
# Modules of workers/ that are the jobs floor: the web enqueues them by dotted name only.
JOB_MODULES = {m for m in FLOORS[JOBS] if m.startswith("workers.")}
# The `recs` command wires every floor; its `worker` command is the one that runs the jobs.
ENTRY_POINT = "service.cli"
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


def project_imports(path: Path) -> set[str]:
    """Return the project modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in ("service", "workers", "config"))
    modules = product_modules()
    # `from workers import jobs` names a module; `from service.storage import Store` does not
    return {n for n in found if n in modules or n.rpartition(".")[0] not in modules}


def test_every_import_points_down_or_sideways():
    wrong = []
    for module, path in product_modules().items():
        for target in project_imports(path):
            if target in ("service", "workers", "config"):
                continue
            if floor_of(target) > floor_of(module) and module != ENTRY_POINT:
                wrong.append(
                    f"{module} (floor {floor_of(module)}) imports {target} "
                    f"(floor {floor_of(target)})"
                )
    assert wrong == []


def test_the_web_never_imports_the_job_modules():
    """The web enqueues jobs by their dotted names (service/queue.py), as microblog does."""
    wrong = [
        f"{module} imports {target}"
        for module, path in product_modules().items()
        if module.startswith("service") and module != ENTRY_POINT
        for target in project_imports(path)
        if any(target == m or target.startswith(m + ".") for m in JOB_MODULES)
    ]
    assert wrong == []


def test_the_entry_point_imports_the_jobs_only_to_run_a_worker():
    targets = {
        t
        for t in project_imports(ROOT / "service" / "cli.py")
        if any(t == m or t.startswith(m + ".") for m in JOB_MODULES)
    }
    assert targets <= {"workers.worker", "workers.worker.run_worker"}


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
