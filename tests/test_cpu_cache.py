"""The L2 cache size the choice between training teams reads (fastmlp/_kernels/cpu_cache.py),
from a sysfs tree laid out as Linux's, and from this machine's."""
import pytest

from fastmlp._kernels.cpu_cache import DEFAULT_L2_BYTES, l2_cache_bytes, parse_size


def cache(root, index, level, kind, size):
    folder = root / f"index{index}"
    folder.mkdir()
    (folder / "level").write_text(f"{level}\n")
    (folder / "type").write_text(f"{kind}\n")
    (folder / "size").write_text(f"{size}\n")


@pytest.mark.parametrize("text, size", [("2048K", 2 << 20), ("1M", 1 << 20), ("512", 512),
                                        ("1g", 1 << 30), ("", 0), ("K", 0), ("12Q", 0),
                                        ("-4K", 0)])
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_l2_cache_bytes_reads_the_level_2_data_or_unified_cache(tmp_path):
    cache(tmp_path, 0, 1, "Data", "48K")
    cache(tmp_path, 1, 1, "Instruction", "32K")
    cache(tmp_path, 2, 2, "Unified", "2048K")
    cache(tmp_path, 3, 3, "Unified", "307200K")
    assert l2_cache_bytes(tmp_path) == 2 << 20


def test_l2_cache_bytes_skips_an_instruction_cache_of_level_2(tmp_path):
    cache(tmp_path, 0, 2, "Instruction", "64K")
    cache(tmp_path, 1, 2, "Data", "1024K")
    assert l2_cache_bytes(tmp_path) == 1 << 20


@pytest.mark.parametrize("trees", ["none", "empty", "no level 2", "unreadable size", "no type"])
def test_l2_cache_bytes_falls_back_where_sysfs_says_nothing(tmp_path, trees):
    root = tmp_path / "cache"
    if trees != "none":
        root.mkdir()
    if trees == "no level 2":
        cache(root, 0, 1, "Data", "48K")
        cache(root, 3, 3, "Unified", "32M")
    elif trees == "unreadable size":
        cache(root, 2, 2, "Unified", "lots")
    elif trees == "no type":
        (root / "index2").mkdir()
        (root / "index2" / "level").write_text("2\n")
    assert l2_cache_bytes(root) == DEFAULT_L2_BYTES


def test_this_machines_l2_cache_is_a_plausible_size():
    assert 128 << 10 <= l2_cache_bytes() <= 64 << 20
