"""The size of one core's L2 cache, which decides how a training team splits its work
(network.pyx: a team sharing the rows keeps all of the weights and a gradient of them in each
core's L2, a team sharing the units half of them)."""
from functools import cache
from pathlib import Path

# Where the system does not say (not Linux, or no sysfs): the smaller of the L2 caches of the
# CPUs this project runs on (1 MiB on AMD Zen 4 and 5; 2 MiB on Intel's Sapphire and Emerald
# Rapids), so a team that shares the units is chosen where either CPU would want it.
DEFAULT_L2_BYTES = 1 << 20

_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")


def parse_size(text: str) -> int:
    """Bytes of a sysfs cache size ("2048K", "1M", "512"); 0 where it is not one."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    return int(digits) * scale if digits.isdigit() else 0


@cache
def l2_cache_bytes(caches: Path = _CACHES) -> int:
    """Bytes of the L2 cache of the first CPU (its data or unified one) as Linux's sysfs
    reports it, or DEFAULT_L2_BYTES where it reports none."""
    try:
        for index in sorted(caches.glob("index*")):
            if ((index / "level").read_text().strip() == "2"
                    and (index / "type").read_text().strip() in ("Data", "Unified")):
                size = parse_size((index / "size").read_text())
                if size > 0:
                    return size
    except (OSError, ValueError):
        pass
    return DEFAULT_L2_BYTES
