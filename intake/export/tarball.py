"""A finished export as one tar stream, for the archivist's download.

Written a block at a time (headers, then each file in chunks, then padding), never whole in
memory or on disk, so downloading an export of a thousand recordings costs a chunk of memory
and no second copy. File times and modes come from the files (the bags' payload times are
fixed), owners are blank, and entries are sorted, so the same export gives the same tar.
Hidden entries (a bag still being written, `.NAME.partial-*`) are left out.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024
_BLOCK = tarfile.BLOCKSIZE


def _entries(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _info(path: Path, arcname: str) -> tarfile.TarInfo:
    stat = path.stat()
    info = tarfile.TarInfo(arcname)
    info.size = stat.st_size
    info.mtime = int(stat.st_mtime)
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


def stream_tar(root: Path, prefix: str) -> Iterator[bytes]:
    """The files under `root` as a POSIX tar, each under `prefix/`, in chunks."""
    for path in _entries(root):
        arcname = f"{prefix}/{path.relative_to(root).as_posix()}"
        info = _info(path, arcname)
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        sent = 0
        with path.open("rb") as source:
            while sent < info.size:
                block = source.read(min(CHUNK, info.size - sent))
                if not block:
                    raise OSError(f"{arcname} shrank while it was sent")
                sent += len(block)
                yield block
        if info.size % _BLOCK:
            yield b"\0" * (_BLOCK - info.size % _BLOCK)
    yield b"\0" * (2 * _BLOCK)
