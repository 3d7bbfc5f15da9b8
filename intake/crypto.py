"""Keys and ciphers: the only module that touches key material.

Layout of the keys (docs/security.md):

* the archive key pair (X25519) lives in two files outside the database: the public half, which
  every app holds, and the private half, which only the workers and the staff app hold. Data
  keys are sealed to the public half (libsodium sealed boxes: an ephemeral key pair per seal),
  so the public intake can store what a submitter sends and can open none of it;
* each testimony has its own data key, and each audio file one more, stored sealed in their
  rows; destroying the sealed keys on withdrawal makes every file of that testimony unreadable,
  even in old backups of the store;
* identity fields get a key of their own, so that the people who handle testimony content never
  need the key that opens a name.

Files are encrypted with AES-256-GCM in fixed-size chunks (the STREAM construction: each
chunk's nonce is a per-file random prefix plus the chunk counter, and the last chunk is marked
in the associated data so that truncation is detected). Nothing is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from intake import offload

KEY_BYTES = 32
CHUNK_BYTES = 64 * 1024
TAG_BYTES = 16
MAGIC = b"TSA1"
_HEADER = struct.Struct(">4sI8s")  # magic, chunk size, nonce prefix


class DecryptionError(Exception):
    """Ciphertext was altered, truncated, or opened with the wrong key."""


# --- secrets on disk -------------------------------------------------------------------------


def load_or_create_secret(path: Path, length: int = KEY_BYTES) -> bytes:
    """Read a random secret from `path`, creating it (mode 0600) if it does not exist yet."""
    if path.exists():
        data = path.read_bytes()
        if len(data) != length:
            raise ValueError(f"{path} holds {len(data)} bytes, expected {length}")
        return data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = secrets.token_bytes(length)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_secret(path, length)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return data


def load_secret(path: Path, length: int = KEY_BYTES) -> bytes:
    """Read a secret that must already exist (created by `testimony init`)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `testimony init` first")
    return load_or_create_secret(path, length)


def write_file_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `path` whole or not at all: a temporary file beside it, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ArchiveKeyFiles:
    """Where the archive key pair lives, and where a rotation keeps the pairs it moves.

    `private` and `public` are the current pair. During `testimony keys rotate` the new pair
    is first written beside them (`next_*`), the old private key then waits in `rotating/`
    (still loaded by the workers and the staff app) until every row is re-sealed, and is then
    moved to `retired/`, which no app loads.
    """

    private: Path
    public: Path

    @property
    def next_private(self) -> Path:
        """The new private key of a rotation, before it becomes the current one."""
        return self.private.with_name(self.private.name + ".next")

    @property
    def next_public(self) -> Path:
        """The new public key of a rotation, before it becomes the current one."""
        return self.public.with_name(self.public.name + ".next")

    @property
    def rotating(self) -> Path:
        """Old private keys whose rows are still being re-sealed, one file per fingerprint."""
        return self.private.parent / "archive-rotating"

    @property
    def retired(self) -> Path:
        """Old private keys no row is sealed to any more; no app loads them."""
        return self.private.parent / "archive-retired"

    def rotating_keys(self) -> list[Path]:
        """The files of the old keys a rotation has not finished with."""
        return sorted(self.rotating.glob("*.key")) if self.rotating.is_dir() else []

    def retired_keys(self) -> list[Path]:
        """The files of the retired keys."""
        return sorted(self.retired.glob("*.key")) if self.retired.is_dir() else []

    def ensure(self) -> None:
        """Create the pair if the private file is missing and no public one exists either
        (`testimony init`); give a private key back its public half if that is missing.

        A public file alone is left as it is: that is a public app's host, which must never
        hold the private key.
        """
        if not self.private.exists() and self.public.exists():
            return
        private = load_or_create_secret(self.private)  # 32 random bytes are an X25519 key
        if not self.public.exists():
            write_file_atomically(self.public, public_key_of(private), 0o644)


# --- data keys sealed to the archive key pair ----------------------------------------------

FINGERPRINT_BYTES = 8


def new_data_key() -> bytes:
    """A fresh random AES-256 key."""
    return secrets.token_bytes(KEY_BYTES)


def new_key_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as (private, public) raw bytes."""
    private = PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def public_key_of(private_key: bytes) -> bytes:
    """The public half of a raw X25519 private key."""
    return bytes(PrivateKey(private_key).public_key)


def fingerprint(public_key: bytes) -> bytes:
    """A short, stable name of a public key, stored in front of everything sealed to it so that
    the key that opens a value is found without trying each one (and a rotation can tell what
    it has not re-sealed yet)."""
    return hashlib.sha256(b"testimony archive key\x00" + public_key).digest()[:FINGERPRINT_BYTES]


def sealed_to(sealed: bytes) -> bytes:
    """The fingerprint of the public key a value made by `seal_key_to` was sealed to."""
    return sealed[:FINGERPRINT_BYTES]


def seal_key_to(public_key: bytes, key: bytes) -> bytes:
    """Seal a data key to a public key: anyone may seal, only the private half opens.

    The result is the key's fingerprint followed by a sealed box (ephemeral X25519, then
    XSalsa20-Poly1305): 8 + 48 + 32 bytes for a data key.
    """
    box = SealedBox(PublicKey(public_key))
    return fingerprint(public_key) + box.encrypt(key)


def open_sealed_key(private_key: bytes, sealed: bytes) -> bytes:
    """Open a value made by `seal_key_to`; raises DecryptionError for any other key."""
    private = PrivateKey(private_key)
    if sealed_to(sealed) != fingerprint(bytes(private.public_key)):
        raise DecryptionError("the key was sealed to another archive key")
    try:
        return SealedBox(private).decrypt(sealed[FINGERPRINT_BYTES:])
    except CryptoError as exc:
        raise DecryptionError("sealed key was altered") from exc


# --- small values ----------------------------------------------------------------------------


def derive_key(secret: bytes, label: bytes) -> bytes:
    """A key for one purpose (`label`) from a high-entropy secret (HKDF-SHA256), so that one
    secret can open several things without any of their keys opening another."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(secret)


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt a small value; `context` binds it to its place (table, column, row)."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Decrypt a value made by `seal` with the same key and context."""
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], context)
    except InvalidTag as exc:
        raise DecryptionError("sealed value was altered or the key is wrong") from exc


_RECEIPT_CHECK_CONTEXT = b"testimony receipt check digits\x00"


def receipt_check_digits(body: str, pepper: bytes, digits: int) -> str:
    """The check digits of a receipt code's random part: HMAC-SHA256 under the pepper, mod 10^n.

    A keyed MAC rather than a checksum such as Luhn: without the pepper nobody can make a code
    that passes, so a guess fails here in microseconds and only one in 10^n guesses ever costs
    an Argon2 hash. (Reducing 64 bits mod 10^4 leaves a bias below 10^-15.)
    """
    mac = hmac.new(pepper, _RECEIPT_CHECK_CONTEXT + body.encode("ascii"), hashlib.sha256)
    value = int.from_bytes(mac.digest()[:8], "big") % 10**digits
    return f"{value:0{digits}d}"


def receipt_digest(code: str, pepper: bytes) -> bytes:
    """Slow, peppered hash of a receipt code (Argon2id), the only form in which it is stored.

    The salt is an instance-wide secret rather than per-row so the digest can be looked up by
    index. A code has 12 random digits (40 bits; the other 4 are check digits that anyone with
    the pepper can compute), so with the pepper and the database an offline search needs up
    to 10^12 Argon2id evaluations (docs/security.md). The cost is OWASP's second recommended
    setting (19 MiB, 2 passes): with 64 MiB, each submission's hash was the largest
    single allocation of the web process (benchmarks/upload.py).
    """
    # About 50 ms of CPU: off the web server's event loop (intake/offload.py).
    return offload.blocking(
        hash_secret_raw,
        code.encode("ascii"),
        pepper,
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )


_RECEIPT_MESSAGES_SALT = b"testimony receipt messages salt"
_RECEIPT_MESSAGES_KEY = b"testimony receipt messages x25519"


def receipt_message_private_key(code: str, pepper: bytes) -> bytes:
    """The X25519 private key that opens the archive's questions to the owner of a code.

    The same slow hash as `receipt_digest` (Argon2id, same cost), with a salt of its own
    derived from the pepper, then HKDF with a label of its own: never the stored digest, which
    the database holds, so a copy of the database with the pepper still needs the 10^12
    search of `receipt_digest` per code. Only its public half is stored (docs/security.md).
    """
    salt = derive_key(pepper, _RECEIPT_MESSAGES_SALT)
    stretched = offload.blocking(
        hash_secret_raw,
        code.encode("ascii"),
        salt,
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )
    return derive_key(stretched, _RECEIPT_MESSAGES_KEY)


# --- chunked file encryption -----------------------------------------------------------------


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class EncryptingWriter(io.RawIOBase):
    """File-like object that encrypts everything written to it into `sink`, chunk by chunk.

    `close()` writes the final chunk; until then the output is incomplete and unreadable, which
    is what a crash half-way should leave.
    """

    def __init__(self, key: bytes, sink: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> None:
        super().__init__()
        self._aead = AESGCM(key)
        self._sink = sink
        self._chunk = chunk_bytes
        self._header = _HEADER.pack(MAGIC, chunk_bytes, secrets.token_bytes(8))
        self._prefix = self._header[-8:]
        self._buf = bytearray()
        self._index = 0
        self._written = 0
        sink.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to closed EncryptingWriter")
        self._buf += data
        while len(self._buf) > self._chunk:
            self._emit(bytes(self._buf[: self._chunk]), final=False)
            del self._buf[: self._chunk]
        self._written += len(data)
        return len(data)

    def _emit(self, plain: bytes, final: bool) -> None:
        ct = self._aead.encrypt(
            _nonce(self._prefix, self._index), plain, _aad(self._header, self._index, final)
        )
        self._sink.write(ct)
        self._index += 1

    @property
    def plaintext_bytes(self) -> int:
        """How many plaintext bytes were written."""
        return self._written

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buf), final=True)
            self._buf.clear()
        super().close()


class DecryptingReader(io.RawIOBase):
    """Seekable, read-only view of a file written by `EncryptingWriter`.

    Random access works because chunks have a fixed size: PyAV seeks inside containers (WAV,
    MP4) and this lets it do so without a plaintext copy anywhere.
    """

    def __init__(self, key: bytes, source: BinaryIO) -> None:
        super().__init__()
        self._aead = AESGCM(key)
        self._src = source
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise DecryptionError("encrypted file is truncated")
        magic, chunk, prefix = _HEADER.unpack(header)
        if magic != MAGIC or chunk <= 0:
            raise DecryptionError("not an encrypted file of this store")
        self._header, self._chunk, self._prefix = header, chunk, prefix
        source.seek(0, io.SEEK_END)
        body = source.tell() - _HEADER.size
        stride = chunk + TAG_BYTES
        self._chunks = max(1, -(-body // stride))
        last = body - (self._chunks - 1) * stride - TAG_BYTES
        if last < 0:
            raise DecryptionError("encrypted file is truncated")
        self._size = (self._chunks - 1) * chunk + last
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    @property
    def size(self) -> int:
        """Plaintext length in bytes."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _chunk_plain(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        stride = self._chunk + TAG_BYTES
        self._src.seek(_HEADER.size + index * stride)
        ct = self._src.read(stride)
        final = index == self._chunks - 1
        try:
            plain = self._aead.decrypt(
                _nonce(self._prefix, index), ct, _aad(self._header, index, final)
            )
        except InvalidTag as exc:
            raise DecryptionError(f"chunk {index} was altered or truncated") from exc
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            index, within = divmod(self._pos, self._chunk)
            plain = self._chunk_plain(index)
            piece = plain[within : within + len(view) - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def close(self) -> None:
        self._cached = None
        super().close()


@dataclass(frozen=True)
class TempFileHandle:
    """What another process needs to read or write one `EncryptedTempFile`: the descriptor it
    inherits, and that file's own one-time key. Never written anywhere: it travels over a
    pipe (`intake.audio_sandbox`)."""

    fd: int
    key: bytes
    iv: bytes
    size: int

    def as_json(self) -> dict[str, int | str]:
        """The handle as JSON values, for the pipe."""
        return {"fd": self.fd, "key": self.key.hex(), "iv": self.iv.hex(), "size": self.size}

    @classmethod
    def from_json(cls, value: dict[str, int | str]) -> TempFileHandle:
        """The handle back from `as_json`."""
        return cls(
            int(value["fd"]),
            bytes.fromhex(str(value["key"])),
            bytes.fromhex(str(value["iv"])),
            int(value["size"]),
        )


class EncryptedTempFile(io.RawIOBase):
    """A seekable, readable and writable temporary file whose bytes on disk are ciphertext.

    Used to spool uploads and intermediate audio: the key lives only in this object's memory
    and the file is unlinked from the moment it is created, so a crash leaves neither a name
    on disk nor a way to read what was there. AES-CTR gives byte-level random access; integrity
    is not needed for a file that lives only as long as one request.
    """

    def __init__(self, directory: Path | None = None) -> None:
        super().__init__()
        import tempfile

        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fh = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in close()
        self._key = secrets.token_bytes(KEY_BYTES)
        self._iv = secrets.token_bytes(8)
        self._pos = 0
        self._size = 0

    def _crypt(self, data: bytes | bytearray | memoryview, offset: int) -> bytes:
        block, skip = divmod(offset, 16)
        counter = self._iv + struct.pack(">Q", block)
        ctx = Cipher(algorithms.AES(self._key), modes.CTR(counter)).encryptor()
        if skip:
            ctx.update(bytes(skip))
        return ctx.update(bytes(data))

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def size(self) -> int:
        """Plaintext length in bytes."""
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(data)
        if n:
            self._fh.seek(self._pos)
            self._fh.write(self._crypt(data, self._pos))
            self._pos += n
            self._size = max(self._size, self._pos)
        return n

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._pos)
        ct = self._fh.read(want)
        view[: len(ct)] = self._crypt(ct, self._pos)
        self._pos += len(ct)
        return len(ct)

    def share(self) -> TempFileHandle:
        """This file's descriptor and key, for a child process that reads or writes it.

        The key is this one file's, made for it alone, so the child can open nothing else.
        """
        self._fh.flush()
        return TempFileHandle(self._fh.fileno(), self._key, self._iv, self._size)

    @classmethod
    def attach(cls, handle: TempFileHandle) -> EncryptedTempFile:
        """The file a parent shared (`share`), in the child that inherited its descriptor."""
        self = cls.__new__(cls)
        io.RawIOBase.__init__(self)
        self._fh = os.fdopen(handle.fd, "r+b")
        self._key, self._iv = handle.key, handle.iv
        self._pos = 0
        self._size = handle.size
        return self

    def reload_size(self) -> None:
        """Take the length from the disk, after a child process wrote through a shared handle.

        AES-CTR keeps lengths, so the ciphertext's length is the plaintext's. Seeking to the
        end also drops whatever the buffer read before the child wrote.
        """
        self._fh.flush()
        self._size = self._fh.seek(0, io.SEEK_END)

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self._key = b""
        super().close()


class MissingSecret(Exception):
    """This process was not given that secret: its audience has no use for it."""


_ARCHIVE_PUBLIC = "archive public key"
_ARCHIVE_PRIVATE = "archive private key"


class Keyring:
    """The secrets one process holds, loaded from their files: one object to pass around.

    Each app loads only what its audience needs (`intake.create_app`): the public app holds the
    archive's public key and no private key at all, so it can seal but never open; the staff
    app has no receipt pepper, a worker no session key. Asking for a secret not loaded raises
    MissingSecret, so a process can never use a key it was not meant to hold.

    The archive keys follow a rotation without a restart: the public key is read again when
    its file changes, and a sealed key naming a private key not held makes the private keys be
    read again once (see `ArchiveKeyFiles`).
    """

    def __init__(
        self,
        *,
        archive_public: bytes | None = None,
        archive_private: list[bytes] | None = None,
        session_key: bytes | None = None,
        receipt_pepper: bytes | None = None,
        staff_key: bytes | None = None,
        search_key: bytes | None = None,
        public_file: Path | None = None,
        private_files: Callable[[], list[Path]] | None = None,
    ) -> None:
        self._secrets = {
            "session key": session_key,
            "receipt pepper": receipt_pepper,
            "staff key": staff_key,
            "search key": search_key,
        }
        self._public = archive_public
        self._public_file = public_file
        self._public_stamp = _stamp(public_file)
        self._private: dict[bytes, bytes] = {}
        self._private_files = private_files
        for key in archive_private or []:
            self._private[fingerprint(public_key_of(key))] = key

    def _get(self, name: str) -> bytes:
        value = self._secrets[name]
        if value is None:
            raise MissingSecret(f"this process holds no {name}")
        return value

    @property
    def archive_public_key(self) -> bytes:
        """Every data key and identity key is sealed to this (see the module doc)."""
        if self._public is None:
            raise MissingSecret(f"this process holds no {_ARCHIVE_PUBLIC}")
        if self._public_file is not None:
            stamp = _stamp(self._public_file)
            if stamp is not None and stamp != self._public_stamp:  # rotated meanwhile
                self._public = self._public_file.read_bytes()
                self._public_stamp = stamp
        return self._public

    def archive_private_key(self, sealed_to: bytes) -> bytes:
        """The private key with fingerprint `sealed_to`; DecryptionError if it is not held
        (a retired key), MissingSecret if this process holds no private key at all."""
        if not self._private and self._private_files is None:
            raise MissingSecret(f"this process holds no {_ARCHIVE_PRIVATE}")
        if sealed_to not in self._private and self._private_files is not None:
            for path in self._private_files():
                key = load_secret(path)
                self._private[fingerprint(public_key_of(key))] = key
        try:
            return self._private[sealed_to]
        except KeyError:
            raise DecryptionError(
                f"sealed to archive key {sealed_to.hex()}, which this process does not hold"
            ) from None

    @property
    def session_key(self) -> bytes:
        """Signs the web app's session cookies."""
        return self._get("session key")

    @property
    def receipt_pepper(self) -> bytes:
        """Keys the receipt codes' check digits and slow hash."""
        return self._get("receipt pepper")

    @property
    def staff_key(self) -> bytes:
        """Seals the staff accounts' own secrets (TOTP); only the staff app holds it."""
        return self._get("staff key")

    @property
    def search_key(self) -> bytes:
        """Keys the blind search index; the staff app and the workers hold it, never the
        public app (`intake.review.search_index`)."""
        return self._get("search key")

    def holds(self) -> set[str]:
        """The names of the secrets loaded, for tests and `testimony status`."""
        held = {name for name, value in self._secrets.items() if value is not None}
        if self._public is not None:
            held.add(_ARCHIVE_PUBLIC)
        if self._private or self._private_files is not None:
            held.add(_ARCHIVE_PRIVATE)
        return held

    @classmethod
    def load(
        cls,
        *,
        archive: ArchiveKeyFiles | None = None,
        private: bool = False,
        session: Path | None = None,
        pepper: Path | None = None,
        staff: Path | None = None,
        search: Path | None = None,
        create: bool,
    ) -> Keyring:
        """Read the secret files given (None: not this process's); with `create`, make those
        that are missing. `private` loads the archive's private keys too (the current one and
        those a rotation has not finished with)."""
        read = load_or_create_secret if create else load_secret
        if archive is not None and create:
            archive.ensure()
        private_keys: list[bytes] = []
        files: Callable[[], list[Path]] | None = None
        if archive is not None and private:
            files = lambda: [archive.private, *archive.rotating_keys()]  # noqa: E731
            private_keys = [load_secret(path) for path in files()]
        return cls(
            archive_public=load_secret(archive.public) if archive is not None else None,
            archive_private=private_keys,
            session_key=read(session) if session else None,
            receipt_pepper=read(pepper) if pepper else None,
            staff_key=read(staff) if staff else None,
            search_key=read(search) if search else None,
            public_file=archive.public if archive is not None else None,
            private_files=files,
        )


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


# --- key pairs and passphrases (the custodians') ----------------------------------------------
# X25519 sealed boxes (libsodium through PyNaCl): anyone holding a public key can seal to it,
# only the private key opens. Private keys are kept locked under a passphrase: Argon2id stretches
# it into a SecretBox (XSalsa20-Poly1305) key; the cost is stored with the locked key, so it can
# be raised later without breaking keys locked earlier.

_LOCK_MAGIC = b"TCK1"
_LOCK_HEADER = struct.Struct(">4sQQ16s")  # magic, opslimit, memlimit, salt


def seal_to(public_key: bytes, plaintext: bytes) -> bytes:
    """Encrypt to a public key (an anonymous sealed box): no private key is needed or used."""
    return SealedBox(PublicKey(public_key)).encrypt(plaintext)


def open_sealed(private_key: bytes, sealed: bytes) -> bytes:
    """Open a sealed box made by `seal_to` for this private key's public half."""
    try:
        return SealedBox(PrivateKey(private_key)).decrypt(sealed)
    except CryptoError as exc:
        raise DecryptionError("sealed box was altered or is for another key") from exc


def lock_with_passphrase(secret: bytes, passphrase: str, *, passes: int, memory_mib: int) -> bytes:
    """Encrypt `secret` under a key stretched from `passphrase` (Argon2id), with the cost and
    salt in front so that `unlock_with_passphrase` needs only the passphrase."""
    salt = secrets.token_bytes(argon2id.SALTBYTES)
    memlimit = memory_mib * 1024 * 1024
    key = argon2id.kdf(SecretBox.KEY_SIZE, passphrase.encode(), salt, passes, memlimit)
    header = _LOCK_HEADER.pack(_LOCK_MAGIC, passes, memlimit, salt)
    return header + bytes(SecretBox(key).encrypt(secret))


def unlock_with_passphrase(locked: bytes, passphrase: str) -> bytes:
    """The secret locked by `lock_with_passphrase`; DecryptionError for a wrong passphrase."""
    magic, passes, memlimit, salt = _LOCK_HEADER.unpack_from(locked)
    if magic != _LOCK_MAGIC:
        raise DecryptionError("not a locked key of this archive")
    key = offload.blocking(
        argon2id.kdf, SecretBox.KEY_SIZE, passphrase.encode(), salt, passes, memlimit
    )
    try:
        return bytes(SecretBox(key).decrypt(locked[_LOCK_HEADER.size :]))
    except CryptoError as exc:
        raise DecryptionError("wrong passphrase") from exc


# --- sealing to the archive's public key (preservation bags) ---------------------------------
# A file for the archive, readable only with its X25519 private key, which never comes here:
# a fresh stream key sealed to the archive's public key (libsodium sealed box), then the
# content in chunks with libsodium's secretstream (XChaCha20-Poly1305), the last chunk tagged
# final so that a cut-off file is detected. Any libsodium binding can open it (docs/export.md).

ARCHIVE_MAGIC = b"TSP1"
_ARCHIVE_HEADER = struct.Struct(">4sI")  # magic, plaintext chunk size
ARCHIVE_CHUNK_BYTES = 1024 * 1024


def load_archive_public_key(path: Path) -> bytes:
    """The archive's X25519 public key: 32 raw bytes, or their 64 hex digits, in a file."""
    raw = path.read_bytes().strip()
    key = bytes.fromhex(raw.decode("ascii")) if len(raw) == 64 else raw
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path}: not an X25519 public key (32 bytes or 64 hex digits)")
    return key


def seal_to_archive(
    public_key: bytes, source: BinaryIO, sink: BinaryIO, chunk_bytes: int = ARCHIVE_CHUNK_BYTES
) -> None:
    """Encrypt `source` to the archive's public key into `sink`, a chunk at a time."""
    from nacl import bindings as sodium
    from nacl.public import PublicKey, SealedBox

    stream_key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, stream_key)
    sink.write(_ARCHIVE_HEADER.pack(ARCHIVE_MAGIC, chunk_bytes))
    sink.write(SealedBox(PublicKey(public_key)).encrypt(stream_key))
    sink.write(header)
    chunk = source.read(chunk_bytes)
    while True:
        following = source.read(chunk_bytes) if len(chunk) == chunk_bytes else b""
        tag = (
            sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
            if following
            else sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        )
        sink.write(sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, tag=tag))
        if not following:
            return
        chunk = following


def open_from_archive(private_key: bytes, source: BinaryIO, sink: BinaryIO) -> None:
    """Decrypt a file written by `seal_to_archive` (the archive's side; used by its tests)."""
    from nacl import bindings as sodium
    from nacl.exceptions import CryptoError
    from nacl.public import PrivateKey, SealedBox

    magic, chunk_bytes = _ARCHIVE_HEADER.unpack(source.read(_ARCHIVE_HEADER.size))
    if magic != ARCHIVE_MAGIC:
        raise DecryptionError("not a file sealed to the archive")
    try:
        stream_key = SealedBox(PrivateKey(private_key)).decrypt(source.read(32 + 48))
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(
            state, source.read(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES), stream_key
        )
        stride = chunk_bytes + sodium.crypto_secretstream_xchacha20poly1305_ABYTES
        while block := source.read(stride):
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, block)
            sink.write(plain)
            if tag == sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL:
                if source.read(1):
                    raise DecryptionError("data after the final chunk")
                return
    except CryptoError as exc:
        raise DecryptionError("altered, or sealed to another key") from exc
    raise DecryptionError("the file was cut off before its final chunk")
