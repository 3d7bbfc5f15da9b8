#!/usr/bin/env python3
"""Verify a testimony access bag's chain of custody, offline, without the archive's software.

Needs Python 3.10+ and PyNaCl (`pip install pynacl`), nothing else. Run

    python3 verify_bag.py BAG --public-key checkpoint.pub
        [--preservation PRESERVATION_BAG --private-key archive-private.key]

`checkpoint.pub` is the public key the exporting archive publishes (64 hex digits); the key in
the bag's own checkpoint file is not trusted. The script checks, and prints one line each:

1. every file of the bag against `manifest-sha256.txt` and `tagmanifest-sha256.txt`;
2. every event of `data/history/*.events.json`: its hash recomputed from its content, and
   consecutive entries of the log linked (`prev_hash`);
3. the signature of `custody/checkpoint.json` (the event log's size and Merkle root) with the
   published key;
4. each event's inclusion proof (RFC 9162) against the signed root: the events are those the
   log held when it was signed, none removed or rewritten since;
5. with `--preservation` and `--private-key`: each original recording opened from the
   preservation bag has a SHA-256 recorded at intake in the events (`custody`).

It exits 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, SealedBox
from nacl.signing import VerifyKey

ORIGIN = "testimony-intake audit log checkpoint v1"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_manifests(bag: Path) -> list[str]:
    problems = []
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        for line in (bag / manifest).read_text("utf-8").splitlines():
            digest, _, name = line.partition(" ")
            path = bag / name.strip()
            if not path.is_file() or sha256_file(path) != digest:
                problems.append(f"{name.strip()}: does not match {manifest}")
    return problems


def entry_hash(entry: dict) -> str:
    at = datetime.fromisoformat(entry["at"]).astimezone(UTC)
    canonical = json.dumps(
        {
            "seq": entry["seq"],
            "prev_hash": entry["prev_hash"],
            "testimony_id": entry["chain"]["testimony_id"],
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": entry["chain"]["actor"],
            "account_id": entry["chain"]["account_id"],
            "action": entry["action"],
            "from_state": entry["from_state"],
            "to_state": entry["to_state"],
            "detail": entry["detail"],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_events(events: list[dict]) -> list[str]:
    problems = []
    previous = None
    for entry in events:
        if entry_hash(entry) != entry["hash"]:
            problems.append(f"event {entry['seq']}: content does not match its hash")
        if previous is not None and entry["seq"] <= previous["seq"]:
            problems.append(f"event {entry['seq']}: out of order")
        follows = previous is not None and entry["seq"] == previous["seq"] + 1
        if follows and previous is not None and entry["prev_hash"] != previous["hash"]:
            problems.append(f"event {entry['seq']}: does not follow event {previous['seq']}")
        previous = entry
    return problems


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def included(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162, section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_checkpoint(checkpoint: dict, public_key: bytes) -> list[str]:
    message = (
        f"{ORIGIN}\n{checkpoint['tree_size']}\n{checkpoint['root_hash']}\n{checkpoint['time']}\n"
    )
    try:
        VerifyKey(public_key).verify(message.encode(), bytes.fromhex(checkpoint["signature"]))
    except (BadSignatureError, ValueError):
        return ["the checkpoint is not signed by the published key"]
    return []


def check_proofs(events: list[dict], proofs: dict, checkpoint: dict) -> list[str]:
    problems = []
    by_seq = {p["seq"]: p for p in proofs["proofs"]}
    root = bytes.fromhex(checkpoint["root_hash"])
    size = int(checkpoint["tree_size"])
    for entry in events:
        proof = by_seq.get(entry["seq"])
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(entry["hash"])).digest()
        path = [bytes.fromhex(p) for p in proof["audit_path"]] if proof else []
        if proof is None or not included(entry["seq"] - 1, size, leaf, path, root):
            problems.append(f"event {entry['seq']}: not in the signed log")
    return problems


def open_sealed(private_key: bytes, sealed: Path) -> str:
    """The SHA-256 of what a sealed preservation file opens to."""
    digest = hashlib.sha256()
    with sealed.open("rb") as source:
        magic, chunk = struct.unpack(">4sI", source.read(8))
        if magic != b"TSP1":
            raise ValueError(f"{sealed.name}: not a sealed file")
        stream_key = SealedBox(PrivateKey(private_key)).decrypt(source.read(80))
        state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, source.read(24), stream_key)
        final = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        while block := source.read(chunk + 17):
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, block)
            digest.update(plain)
            if tag == final:
                return digest.hexdigest()
    raise ValueError(f"{sealed.name}: cut off before its final chunk")


def check_originals(events: list[dict], preservation: Path, private_key: bytes) -> list[str]:
    recorded = {
        item["original_sha256"]
        for entry in events
        for item in (entry.get("detail") or {}).get("custody", [])
    }
    problems = []
    sealed = sorted((preservation / "data" / "original").glob("*.sealed"))
    if not sealed:
        problems.append("the preservation bag holds no original")
    for path in sealed:
        try:
            found = open_sealed(private_key, path)
        except (ValueError, CryptoError) as exc:
            problems.append(f"{path.name}: cannot be opened ({exc})")
            continue
        if found not in recorded:
            problems.append(f"{path.name}: its SHA-256 was not recorded at intake")
    return problems


def read_key(path: Path) -> bytes:
    text = path.read_bytes().strip()
    return bytes.fromhex(text.decode("ascii")) if len(text) == 64 else text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path)
    parser.add_argument("--public-key", type=Path, required=True)
    parser.add_argument("--preservation", type=Path)
    parser.add_argument("--private-key", type=Path)
    args = parser.parse_args()
    bag: Path = args.bag
    history = next((bag / "data" / "history").glob("*.events.json"))
    events = json.loads(history.read_text("utf-8"))["events"]
    checkpoint = json.loads((bag / "custody" / "checkpoint.json").read_text("utf-8"))
    proofs = json.loads((bag / "custody" / "proofs.json").read_text("utf-8"))
    steps = [
        ("files match the manifests", check_manifests(bag)),
        (f"{len(events)} events match their hashes and links", check_events(events)),
        (
            "checkpoint signed by the published key",
            check_checkpoint(checkpoint, read_key(args.public_key)),
        ),
        (
            f"every event is in the signed log of {checkpoint['tree_size']} entries",
            check_proofs(events, proofs, checkpoint),
        ),
    ]
    if args.preservation is not None and args.private_key is not None:
        steps.append(
            (
                "originals match the SHA-256 recorded at intake",
                check_originals(events, args.preservation, read_key(args.private_key)),
            )
        )
    failed = False
    for title, problems in steps:
        print(("ok    " if not problems else "FAIL  ") + title)
        for problem in problems:
            print("      " + problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
