"""The kernel cache is dropped when any kernel module's source changes (numba checks a cached
function against its own file only)."""

from service.core import kernel_cache


def test_cached_kernels_from_other_sources_are_dropped_once(tmp_path):
    kept = ["similarity_helper.nbi", "README"]  # not a kernel module's, or not numba's
    stale = ["kernels.rank_rows-66.py311.nbi", "kernel_select.add_reason-131.py311.1.nbc"]
    for name in kept + stale:
        (tmp_path / name).write_bytes(b"x")
    assert kernel_cache.drop_stale(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [kernel_cache.STAMP])
    # compiled again from these sources: kept from now on
    (tmp_path / stale[0]).write_bytes(b"x")
    assert not kernel_cache.drop_stale(str(tmp_path))
    assert (tmp_path / stale[0]).exists()
    # a helper changes: its digest differs, and every kernel goes again
    (tmp_path / kernel_cache.STAMP).write_text("0" * 64, encoding="ascii")
    assert kernel_cache.drop_stale(str(tmp_path))
    assert not (tmp_path / stale[0]).exists()


def test_the_digest_covers_every_module_with_compiled_functions():
    compiled = {
        path.stem
        for path in kernel_cache.CORE.glob("*.py")
        if "@njit" in path.read_text(encoding="utf-8")
    }
    assert compiled == set(kernel_cache.MODULES)


def test_the_kernels_module_renews_its_cache_on_import():
    from service.core import kernels

    stamp = kernel_cache.Path(kernels.rank_rows._cache.cache_path) / kernel_cache.STAMP
    assert stamp.read_text(encoding="ascii") == kernel_cache.sources_digest()
