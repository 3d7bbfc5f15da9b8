"""Signed checkpoints of the event log: a chain of custody an outsider can check.

The audit chain (`intake.records.audit`) finds an entry changed in place, but whoever can write the
database can also delete an entry and recompute every hash after it: the chain is whole again.
So the log is also a Merkle tree (RFC 9162, section 2.1: leaf = SHA-256(0x00 || entry), node =
SHA-256(0x01 || left || right); the entry is the event's 32-byte chain hash, in `seq` order),
and from time to time (at each export, and at each upkeep sweep when the log has grown) its
size and root hash are signed with an Ed25519 key the database never holds: a file on the
worker host beside the archive key (`Config.checkpoint_key_file`, made by `testimony init`).
Each checkpoint is appended to a file outside the database (`Config.checkpoint_log_file`).

`verify` recomputes the root of the database's first N entries for the latest checkpoint: a
rewritten history gives another root. Every access bag carries the checkpoint and, for each of
its record's events, an inclusion proof, so an archive checks the record's history against the
signature alone (`docs/verify_bag.py`, standard library and PyNaCl).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Event

#: The first line of every signed checkpoint: what the signature is about.
ORIGIN = "testimony-intake audit log checkpoint v1"
_BATCH = 5000


class CheckpointError(Exception):
    """A checkpoint that cannot be made, read or trusted; says why."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """The tree over a list of leaf hashes, kept level by level, so that the root and any
    number of inclusion proofs cost one pass over the leaves.

    Pairing each level's nodes from the left and carrying an unpaired last node up unchanged
    builds exactly RFC 9162's tree (its left subtree is always the largest power of two)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            self.levels.append(above)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        """The tree's root hash; SHA-256 of nothing for an empty tree (RFC 9162)."""
        return self.levels[-1][0] if self.size else hashlib.sha256(b"").digest()

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf `index` (RFC 9162 2.1.3.1), from the leaf up."""
        if not 0 <= index < self.size:
            raise CheckpointError(f"leaf {index} is not in a tree of {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """Whether `leaf` is leaf `index` of the tree of `size` with `root` (RFC 9162 2.1.3.2)."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


@dataclass(frozen=True)
class Checkpoint:
    """The log's size and root at a moment, signed by the checkpoint key."""

    tree_size: int
    root_hash: str
    time: str
    signature: str = ""
    public_key: str = ""

    def message(self) -> bytes:
        """What is signed: the origin line, the size, the root (hex) and the time."""
        return f"{ORIGIN}\n{self.tree_size}\n{self.root_hash}\n{self.time}\n".encode()

    def as_json(self) -> dict[str, Any]:
        """The checkpoint as written to the log file and into bags."""
        return {"origin": ORIGIN, **asdict(self)}

    def signed_by(self, public_key: bytes) -> bool:
        """Whether the signature is the given key's, over this checkpoint."""
        try:
            VerifyKey(public_key).verify(self.message(), bytes.fromhex(self.signature))
        except (BadSignatureError, ValueError):
            return False
        return True


def public_key_file(key_file: Path) -> Path:
    """Where the checkpoint key's public half is written, for the archive to publish."""
    return key_file.with_name(key_file.name + ".pub")


def load_signing_key(key_file: Path, create: bool = False) -> SigningKey:
    """The checkpoint key (a 32-byte Ed25519 seed as hex, mode 0600); with `create`, made
    (with its public half beside it) when missing."""
    if not key_file.exists():
        if not create:
            raise CheckpointError(f"no checkpoint key at {key_file} (run `testimony init`)")
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = SigningKey.generate()
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(bytes(key).hex() + "\n")
        public_key_file(key_file).write_text(bytes(key.verify_key).hex() + "\n")
        return key
    text = key_file.read_text().strip()
    try:
        return SigningKey(bytes.fromhex(text))
    except ValueError as exc:
        raise CheckpointError(f"{key_file}: not an Ed25519 key (64 hex digits)") from exc


def load_public_key(key_file: Path) -> bytes:
    """The checkpoint key's public half, from its `.pub` file (or from the key itself)."""
    public = public_key_file(key_file)
    if public.exists():
        return bytes.fromhex(public.read_text().strip())
    return bytes(load_signing_key(key_file).verify_key)


def log_tree(session: Session, size: int | None = None) -> MerkleTree:
    """The Merkle tree over the database's event log (its first `size` entries)."""
    query = select(Event.hash).order_by(Event.seq)
    if size is not None:
        query = query.limit(size)
    hashes = session.scalars(query.execution_options(yield_per=_BATCH))
    return MerkleTree([leaf_hash(bytes.fromhex(h)) for h in hashes])


def sign(tree: MerkleTree, key: SigningKey, now: datetime | None = None) -> Checkpoint:
    """A checkpoint of `tree`, signed with `key`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = Checkpoint(tree.size, tree.root.hex(), moment)
    signature = key.sign(unsigned.message()).signature.hex()
    return Checkpoint(
        tree.size, tree.root.hex(), moment, signature, bytes(key.verify_key).hex()
    )


def append(log_file: Path, checkpoint: Checkpoint) -> None:
    """Append `checkpoint` to the log file, one JSON line, flushed to disk."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(checkpoint.as_json(), sort_keys=True) + "\n"
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_all(log_file: Path) -> list[Checkpoint]:
    """Every checkpoint in the log file, oldest first."""
    if not log_file.exists():
        return []
    found = []
    for number, line in enumerate(log_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(
                Checkpoint(
                    int(data["tree_size"]),
                    str(data["root_hash"]),
                    str(data["time"]),
                    str(data["signature"]),
                    str(data["public_key"]),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{log_file}: line {number} is not a checkpoint") from exc
    return found


@contextmanager
def _locked(log_file: Path) -> Iterator[None]:
    """Hold the log file's lock: the workers of a host (exports, sweeps) write one at a time,
    each reading the tree inside the lock, so checkpoints in the file never shrink."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file.with_name(log_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write(
    session: Session, key_file: Path, log_file: Path, only_if_grown: bool = False
) -> tuple[Checkpoint, MerkleTree] | None:
    """Sign a checkpoint of the whole log now and append it; return it with its tree. With
    `only_if_grown`, None when the log has not grown since the last checkpoint."""
    with _locked(log_file):
        tree = log_tree(session)
        earlier = read_all(log_file)
        if earlier and earlier[-1].tree_size > tree.size:
            # This session reads an older snapshot than a checkpoint already written.
            return None
        if only_if_grown and earlier and earlier[-1].tree_size >= tree.size:
            return None
        checkpoint = sign(tree, load_signing_key(key_file, create=True))
        append(log_file, checkpoint)
    return checkpoint, tree


def verify(session: Session, key_file: Path, log_file: Path) -> str | None:
    """Check the database against the checkpoint log; None when it holds, else why not.

    Every checkpoint must carry the checkpoint key's signature and none may be smaller than
    the one before; the latest one's root must be the root of the database's first
    `tree_size` entries, which a history rewritten since (an entry deleted and every hash
    after it recomputed) cannot give."""
    checkpoints = read_all(log_file)
    if not checkpoints:
        return None
    public_key = load_public_key(key_file)
    previous = 0
    for checkpoint in checkpoints:
        if not checkpoint.signed_by(public_key):
            return f"the checkpoint of {checkpoint.time} is not signed by the checkpoint key"
        if checkpoint.tree_size < previous:
            return f"the checkpoint of {checkpoint.time} is smaller than the one before it"
        previous = checkpoint.tree_size
    latest = checkpoints[-1]
    tree = log_tree(session, latest.tree_size)
    if tree.size < latest.tree_size:
        return (
            f"the log has {tree.size} entries; the checkpoint of {latest.time} signed "
            f"{latest.tree_size}"
        )
    if tree.root.hex() != latest.root_hash:
        return (
            f"the first {latest.tree_size} entries differ from those signed at {latest.time}: "
            "the history was rewritten"
        )
    return None
