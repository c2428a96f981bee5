"""Atomic file writes: a model file is either the old one or the new one, never a torn mix."""
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from fastmlp._typing import PathLike


@contextmanager
def atomic_write(path: PathLike) -> Iterator[BinaryIO]:
    """Yields a binary file beside `path`; on success it is flushed, fsynced and renamed over
    `path` (then the folder is fsynced), on failure removed. A crash or kill mid-save leaves
    the previous file as it was."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""  # renamed: nothing to remove
        try:
            dir_fd = os.open(target.parent or ".", os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass  # some file systems cannot fsync a folder; the rename itself is done
        finally:
            os.close(dir_fd)
    finally:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
