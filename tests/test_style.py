"""The house style holds: `./run lint` (ruff check and ruff format --check, the version pinned
in pyproject.toml) passes on the whole tree, and no module of the product grows too long."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


MAX_LINES = 450  # issue 14: none of the product's modules over this; most under about 250


def test_no_product_module_is_too_long():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("service", "workers", "config")
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}
    assert sum(n <= 250 for n in lengths.values()) > len(lengths) * 3 / 4, sorted(lengths.items())
