"""The IDX dataset files: a cache directory, checksum-verified atomic downloads, and the
parser of the (gzip-compressed) IDX format."""
import contextlib
import gzip
import hashlib
import os
import stat
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

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


# Files verified in this process, by (path, size, mtime): the cache of a read-only folder
# (a shared dataset copy) is hashed once per process instead of once per load.
_verified: dict[tuple[str, int, int], str] = {}


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _verified_digest(path: Path) -> str:
    """The file's SHA-256, computed once: remembered in a stamp beside it (size, mtime and
    digest, so any change to the file invalidates it) and in this process."""
    key = _identity(path)
    if key in _verified:
        return _verified[key]
    stamp = _stamp_path(path)
    try:
        size, mtime, digest = stamp.read_text().split()
        if (int(size), int(mtime)) == key[1:]:
            _verified[key] = digest
            return digest
    except (OSError, ValueError):
        pass
    digest = _sha256(path)
    _verified[key] = digest
    # a folder without write bits (a shared, read-only dataset copy) is left as it is, even
    # for root, whom the bits do not stop: the process remembers the digest instead
    if path.parent.stat().st_mode & stat.S_IWUSR:
        with contextlib.suppress(OSError):
            stamp.write_text(f"{key[1]} {key[2]} {digest}\n")
    return digest


def fetch(name: str, filename: str, base_url: str, sha256: str) -> Path:
    """The path of a dataset file in the cache, verified against its SHA-256; downloaded first
    when it is absent, and again (as Keras's get_file does) when the cached copy is not the
    official file."""
    directory = cache_dir(name)
    path = directory / filename
    url = base_url.rstrip("/") + "/" + filename
    problem = None
    if path.is_file():
        actual = _verified_digest(path)
        if actual == sha256:
            return path
        problem = (f"The cached file {path} is not the official {filename} (SHA-256 {actual}, "
                   f"expected {sha256})")
    try:
        download(url, path, sha256)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        if problem:
            raise ValueError(f"{problem}, and downloading it again from {url} failed ({exc}). "
                             f"Delete it, or put the official file there.") from exc
        if isinstance(exc, ValueError):
            raise
        raise OSError(f"Dataset file {filename!r} is not in {directory} and could not be downloaded "
                      f"from {url} ({exc}). Put the file there (or set FASTMLP_DATA to a folder holding "
                      f"{name}/{filename}), or connect to the network.") from exc
    return path


def read_idx(path: Path) -> np.ndarray:
    """Reads a gzip-compressed IDX file of unsigned bytes into an array of its shape."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({type(exc).__name__}: {exc}); it is "
                         "truncated or corrupted. Delete it to download it again.") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UINT8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path} has an IDX header of {ndim} dimensions"
                         f"{'' if ndim else ' (an array needs at least one)'} in {len(raw)} bytes.")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise ValueError(f"{path} is truncated or padded: its header promises {expected} bytes of "
                         f"data for shape {shape}, the file holds {len(raw) - header}.")
    data: np.ndarray = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()
    return data


def _pair(images: np.ndarray, labels: np.ndarray, images_path: Path,
          labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{images_path} must hold images (N, rows, cols) and {labels_path} labels "
                         f"(N,); they hold shapes {images.shape} and {labels.shape}.")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                         f"{labels.shape[0]} labels.")
    return images, labels


TrainTest = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""((x_train, y_train), (x_test, y_test)), what every load_data returns."""


def load(name: str, base_url: str, checksums: dict[str, str]) -> TrainTest:
    """((x_train, y_train), (x_test, y_test)) from the four standard MNIST-style files."""
    paths = {filename: fetch(name, filename, base_url, sha256) for filename, sha256 in checksums.items()}
    arrays = {filename: read_idx(path) for filename, path in paths.items()}
    splits = []
    for prefix in ("train", "t10k"):
        images, labels = f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"
        splits.append(_pair(arrays[images], arrays[labels], paths[images], paths[labels]))
    return splits[0], splits[1]
