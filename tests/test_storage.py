"""The store keeps every path inside its root and writes files whole or not at all."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from intake import crypto
from intake.storage import StorageError, Store


@pytest.mark.parametrize(
    ("storage_id", "name"),
    [
        ("../x", "a.flac"),
        ("abc", "../../etc/passwd"),
        ("abc", "/etc/passwd"),
        ("abc", "a\x00b"),
        ("ABC", "a.flac"),
        ("abc", ".hidden"),
        ("abc", "a.flac.partial"),
    ],
)
def test_paths_outside_the_store_are_refused(tmp_path: Path, storage_id: str, name: str) -> None:
    with pytest.raises(StorageError):
        Store(tmp_path).path_for(storage_id, name)


def test_write_is_encrypted_and_readable(tmp_path: Path) -> None:
    store, key = Store(tmp_path), crypto.new_data_key()
    size = store.write(key, "abc123", "audio-01.flac", io.BytesIO(b"hello " * 1000))
    assert size == 6000
    raw = (tmp_path / "abc123" / "audio-01.flac").read_bytes()
    assert b"hello" not in raw
    with store.open(key, "abc123", "audio-01.flac") as reader:
        assert reader.read() == b"hello " * 1000


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    class Exploding(io.RawIOBase):
        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            raise OSError("disk vanished")

    store = Store(tmp_path)
    with pytest.raises(OSError):
        store.write(crypto.new_data_key(), "abc123", "audio-01.flac", Exploding())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_store_owns_the_file_names(tmp_path: Path) -> None:
    from intake.storage import FileKind, file_name, parse_name

    assert file_name(FileKind.access, 1) == "audio-01.flac"
    assert file_name(FileKind.original, 12) == "original-12.bin"
    assert parse_name("original-12.bin") == (FileKind.original, 12)
    store = Store(tmp_path)
    for name in ("audio-01.bin", "notes.txt", "../audio-01.flac", "audio-1.flac", "x-01.flac"):
        with pytest.raises(StorageError):
            parse_name(name)
        with pytest.raises(StorageError):
            store.path_for("abc123", name)


def test_a_records_waiting_exports_are_found_in_run_folders_too(tmp_path: Path) -> None:
    from intake.storage import remove_exports, waiting_exports

    mine, other = "T-7K3M-Q9XD", "T-0000-0000"
    root = tmp_path / "exports"
    for path in (
        root / f"{mine}.zip",
        root / "export-3" / mine / "bagit.txt",
        root / "export-3" / "preservation" / mine / "bagit.txt",
        root / "export-3" / f".{mine}.partial-x1" / "data",
        root / "export-3" / other / "bagit.txt",
        root / "export-3" / "catalogue.csv",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert len(waiting_exports(root, mine)) == 4
    assert remove_exports(root, mine) == 4
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == ["export-3/T-0000-0000/bagit.txt", "export-3/catalogue.csv"]
