"""The IDX dataset files: a cache directory, checksum-verified atomic downloads, and the
parser of the (gzip-compressed) IDX format."""
import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

_IDX_UINT8 = 0x08


def cache_dir(name: str) -> Path:
    """$FASTMLP_DATA/<name> when FASTMLP_DATA is set, else ~/.fastmlp/datasets/<name>."""
    root = os.environ.get("FASTMLP_DATA")
    if root:
        return Path(root).expanduser() / name
    return Path.home() / ".fastmlp" / "datasets" / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, sha256: str, timeout: float = 60.0) -> None:
    """Downloads url to target atomically: written beside it under a temporary name, checked
    against sha256, then renamed. On any failure nothing is left at target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                out.write(block)
        actual = _sha256(tmp)
        if actual != sha256:
            raise ValueError(f"Downloaded file from {url} is corrupted: SHA-256 {actual}, expected "
                             f"{sha256}. Nothing was saved to {target.parent}.")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch(name: str, filename: str, base_url: str, sha256: str) -> Path:
    """The path of a dataset file in the cache, downloaded first when it is absent."""
    directory = cache_dir(name)
    path = directory / filename
    if path.is_file():
        return path
    url = base_url.rstrip("/") + "/" + filename
    try:
        download(url, path, sha256)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise OSError(f"Dataset file {filename!r} is not in {directory} and could not be downloaded "
                      f"from {url} ({exc}). Put the file there (or set FASTMLP_DATA to a folder holding "
                      f"{name}/{filename}), or connect to the network.") from exc
    return path


def read_idx(path: Path) -> np.ndarray:
    """Reads a gzip-compressed IDX file of unsigned bytes into an array of its shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UINT8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise ValueError(f"{path} is truncated or padded: its header promises {expected} bytes of "
                         f"data for shape {shape}, the file holds {len(raw) - header}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load(name: str, base_url: str, checksums: Dict[str, str]) -> Tuple[Tuple[np.ndarray, np.ndarray],
                                                                        Tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)) from the four standard MNIST-style files."""
    arrays = {}
    for filename, sha256 in checksums.items():
        arrays[filename] = read_idx(fetch(name, filename, base_url, sha256))
    return ((arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]),
            (arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]))
