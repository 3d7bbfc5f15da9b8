"""Keys and ciphers: the only module that touches key material.

Layout of the keys:

* the master key (32 random bytes) lives in a file outside the database; it only wraps other
  keys (AES key wrap, RFC 3394);
* each testimony has its own data key, stored wrapped in its row; destroying the wrapped key
  on withdrawal makes every file of that testimony unreadable, even in old backups of the store;
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
from pathlib import Path
from typing import BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

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


# --- key wrapping ----------------------------------------------------------------------------


def new_data_key() -> bytes:
    """A fresh random AES-256 key."""
    return secrets.token_bytes(KEY_BYTES)


def wrap_key(master_key: bytes, key: bytes) -> bytes:
    """Wrap a data key under the master key for storage in the database."""
    return aes_key_wrap(master_key, key)


def unwrap_key(master_key: bytes, wrapped: bytes) -> bytes:
    """Unwrap a data key; raises DecryptionError if the master key is wrong."""
    try:
        return aes_key_unwrap(master_key, wrapped)
    except InvalidUnwrap as exc:
        raise DecryptionError("wrapped key does not match the master key") from exc


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

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self._key = b""
        super().close()


class MissingSecret(Exception):
    """This process was not given that secret: its audience has no use for it."""


class Keyring:
    """The secrets one process holds, loaded from their files: one object to pass around.

    Each app loads only what its audience needs (`intake.create_app`): the staff app has no
    receipt pepper, a worker no session key. Asking for a secret not loaded raises
    MissingSecret, so a process can never use a key it was not meant to hold.
    """

    def __init__(
        self,
        master_key: bytes | None = None,
        session_key: bytes | None = None,
        receipt_pepper: bytes | None = None,
    ) -> None:
        self._secrets = {
            "master key": master_key,
            "session key": session_key,
            "receipt pepper": receipt_pepper,
        }

    def _get(self, name: str) -> bytes:
        value = self._secrets[name]
        if value is None:
            raise MissingSecret(f"this process holds no {name}")
        return value

    @property
    def master_key(self) -> bytes:
        """Wraps every data key (see the module doc)."""
        return self._get("master key")

    @property
    def session_key(self) -> bytes:
        """Signs the web app's session cookies."""
        return self._get("session key")

    @property
    def receipt_pepper(self) -> bytes:
        """Keys the receipt codes' check digits and slow hash."""
        return self._get("receipt pepper")

    def holds(self) -> set[str]:
        """The names of the secrets loaded, for tests and `testimony status`."""
        return {name for name, value in self._secrets.items() if value is not None}

    @classmethod
    def load(
        cls, master: Path | None, session: Path | None, pepper: Path | None, *, create: bool
    ) -> Keyring:
        """Read the secret files given (None: not this process's); with `create`, make those
        that are missing."""
        read = load_or_create_secret if create else load_secret
        return cls(
            read(master) if master else None,
            read(session) if session else None,
            read(pepper) if pepper else None,
        )


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


def new_archive_key_pair() -> tuple[bytes, bytes]:
    """A fresh (private, public) X25519 key pair, for an archive that has none yet."""
    from nacl.public import PrivateKey

    private = PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


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
