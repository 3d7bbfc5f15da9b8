"""Keys and ciphers: round trips, tampering, truncation, random access, and the spool file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from intake import crypto


def _encrypt(key: bytes, data: bytes, chunk: int = 1000) -> bytes:
    sink = io.BytesIO()
    writer = crypto.EncryptingWriter(key, sink, chunk_bytes=chunk)
    writer.write(data)
    writer.close()
    return sink.getvalue()


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    key = crypto.new_data_key()
    data = os.urandom(size)
    blob = _encrypt(key, data)
    reader = crypto.DecryptingReader(key, io.BytesIO(blob))
    assert reader.size == size
    assert reader.read() == data


def test_random_access_reads_match() -> None:
    key = crypto.new_data_key()
    data = os.urandom(10_000)
    reader = crypto.DecryptingReader(key, io.BytesIO(_encrypt(key, data)))
    for offset, length in [(0, 10), (995, 10), (4321, 2000), (9990, 100)]:
        reader.seek(offset)
        assert reader.read(length) == data[offset : offset + length]
    reader.seek(-5, io.SEEK_END)
    assert reader.read() == data[-5:]


def test_tampering_is_detected() -> None:
    key = crypto.new_data_key()
    blob = bytearray(_encrypt(key, os.urandom(3000)))
    blob[100] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.DecryptingReader(key, io.BytesIO(bytes(blob))).read()


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    key = crypto.new_data_key()
    blob = _encrypt(key, os.urandom(3000))
    # Drop the final chunk: without the "final" flag in the associated data this would
    # decrypt cleanly as a shorter file.
    cut = blob[: 16 + 2 * (1000 + 16)]
    with pytest.raises(crypto.DecryptionError):
        crypto.DecryptingReader(key, io.BytesIO(cut)).read()


def test_wrong_key_fails() -> None:
    blob = _encrypt(crypto.new_data_key(), b"secret words")
    with pytest.raises(crypto.DecryptionError):
        crypto.DecryptingReader(crypto.new_data_key(), io.BytesIO(blob)).read()


def test_nonces_are_unique_per_file() -> None:
    key = crypto.new_data_key()
    a, b = _encrypt(key, b"same"), _encrypt(key, b"same")
    assert a[8:16] != b[8:16]  # the per-file nonce prefix
    assert a != b


def test_sealed_key_opens_with_the_private_half_only() -> None:
    private, public = crypto.new_key_pair()
    key = crypto.new_data_key()
    sealed = crypto.seal_key_to(public, key)
    assert crypto.sealed_to(sealed) == crypto.fingerprint(public)
    assert crypto.seal_key_to(public, key) != sealed  # an ephemeral key pair per seal
    assert crypto.open_sealed_key(private, sealed) == key
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed_key(crypto.new_key_pair()[0], sealed)
    other_private, other_public = crypto.new_key_pair()
    relabelled = crypto.fingerprint(other_public) + sealed[crypto.FINGERPRINT_BYTES :]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed_key(other_private, relabelled)


def test_archive_pair_files(tmp_path: Path) -> None:
    files = crypto.ArchiveKeyFiles(tmp_path / "s" / "archive.key", tmp_path / "s" / "archive.pub")
    files.ensure()
    private = files.private.read_bytes()
    assert crypto.public_key_of(private) == files.public.read_bytes()
    assert oct(files.private.stat().st_mode & 0o777) == "0o600"
    files.ensure()
    assert files.private.read_bytes() == private  # stable
    files.private.unlink()
    files.ensure()  # a public key alone is a public app's host: no private key is made there
    assert not files.private.exists()


def test_seal_binds_context() -> None:
    key = crypto.new_data_key()
    sealed = crypto.seal(key, b"name", b"identity:1")
    assert crypto.unseal(key, sealed, b"identity:1") == b"name"
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(key, sealed, b"identity:2")


def test_receipt_digest_is_deterministic_and_peppered() -> None:
    pepper = os.urandom(32)
    code = "1234567812345678"
    assert crypto.receipt_digest(code, pepper) == crypto.receipt_digest(code, pepper)
    assert crypto.receipt_digest(code, pepper) != crypto.receipt_digest(code, os.urandom(32))


def test_encrypted_temp_file_holds_only_ciphertext(tmp_path: Path) -> None:
    plain = b"TESTIMONY-PLAINTEXT-" * 5000
    spool = crypto.EncryptedTempFile(tmp_path)
    spool.write(plain)
    assert list(tmp_path.iterdir()) == []  # unlinked from the start: no name on disk
    on_disk = os.pread(spool._fh.fileno(), len(plain) + 10, 0)
    assert len(on_disk) == len(plain)
    assert b"TESTIMONY-PLAINTEXT" not in on_disk
    spool.seek(12345)
    assert spool.read(100) == plain[12345:12445]
    spool.seek(0)
    assert spool.read() == plain
    spool.close()


def test_secret_files_are_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "session.key"
    first = crypto.load_or_create_secret(path)
    assert crypto.load_or_create_secret(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileNotFoundError):
        crypto.load_secret(tmp_path / "missing.key")
