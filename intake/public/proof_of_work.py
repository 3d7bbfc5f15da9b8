"""Proof of work on the intake form: a price on anonymous work, paid by the page's script.

Anyone can send the public form, and each testimony costs the workers minutes of
transcription. The form therefore asks the visitor's browser for a small hashcash-style proof
(the approach of GlobaLeaks): the page carries a challenge, and the script finds a nonce such
that SHA-256(challenge || nonce) starts with `bits` zero bits, while the visitor fills in the
form. A submission with a valid proof has its transcription queued as usual; one without (no
JavaScript, as at Tor Browser's safest level, or an expired or forged challenge) is still
accepted, always, but waits in a slower lane (`Config.unproven_delay_s`). Testimony is never
refused for lack of a proof.

Nothing is stored on the server: a challenge is its expiry and difficulty, authenticated by an
HMAC over them and the form's digest (`intake.public.form_tokens.digest`) under a key derived from
the public app's session key. So a challenge is good for one form only: solved once, it cannot
serve a second form, and the form itself makes one testimony at most (`form_tokens.claim`).
The public app holds no key that opens anything stored; this key only signs challenges.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass

from intake import crypto

VERSION = "p1"
# p1.<bits>.<expires, unix seconds>.<HMAC-SHA-256, base64url>
_CHALLENGE = re.compile(r"^p1\.(\d{1,2})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")
# The page's script counts up from 0; 16 decimal digits are far more tries than any puzzle here.
_NONCE = re.compile(r"^\d{1,16}$")


class Verdict(enum.Enum):
    """What a submission's proof of work showed; only `proven` goes in the ordinary lane."""

    proven = "proven"
    missing = "missing"  # no challenge or no nonce: no JavaScript, or an old page
    forged = "forged"  # malformed, or signed for another form or by another key
    expired = "expired"
    too_easy = "too_easy"  # signed for fewer bits than the setting asks now
    wrong = "wrong"  # the nonce does not give enough zero bits


@dataclass(frozen=True)
class Answer:
    """What the form sent back: the challenge it was given and the nonce its script found."""

    challenge: str
    nonce: str


def key_for(session_key: bytes) -> bytes:
    """The key that signs challenges, derived from the public app's session key (so no new
    secret file; the session key never leaves the public app's host)."""
    return crypto.derive_key(session_key, b"intake-proof-of-work")


def _mac(key: bytes, form_digest: str, bits: int, expires: int) -> str:
    message = f"{VERSION}|{form_digest}|{bits}|{expires}".encode("ascii")
    tag = hmac.new(key, message, hashlib.sha256).digest()
    return urlsafe_b64encode(tag).decode("ascii").rstrip("=")


def issue(key: bytes, form_digest: str, bits: int, ttl_s: float, now: float | None = None) -> str:
    """A challenge for one form, good for `ttl_s` seconds; nothing about it is stored."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{VERSION}.{bits}.{expires}.{_mac(key, form_digest, bits, expires)}"


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits the digest starts with."""
    count = 0
    for byte in digest:
        if byte == 0:
            count += 8
            continue
        return count + 8 - byte.bit_length()
    return count


def work(challenge: str, nonce: str) -> bytes:
    """The hash the puzzle is about: SHA-256 of the challenge's text followed by the nonce's."""
    return hashlib.sha256((challenge + nonce).encode("ascii")).digest()


def solve(challenge: str, bits: int) -> str:
    """Find a nonce for a challenge (what the page's script does; for tests and benchmarks)."""
    nonce = 0
    while leading_zero_bits(work(challenge, str(nonce))) < bits:
        nonce += 1
    return str(nonce)


def check(
    key: bytes, form_digest: str, answer: Answer | None, bits: int, now: float | None = None
) -> Verdict:
    """Judge a form's proof of work. The signature is compared in constant time, and checked
    before the hash, so a forged challenge costs the server one HMAC and no more."""
    if answer is None or not answer.challenge or not answer.nonce:
        return Verdict.missing
    parsed = _CHALLENGE.match(answer.challenge)
    if parsed is None or not _NONCE.match(answer.nonce):
        return Verdict.forged
    signed_bits, expires, tag = int(parsed[1]), int(parsed[2]), parsed[3]
    expected = _mac(key, form_digest, signed_bits, expires)
    if not hmac.compare_digest(expected.encode("ascii"), tag.encode("ascii")):
        return Verdict.forged
    if expires < (time.time() if now is None else now):
        return Verdict.expired
    if signed_bits < bits:
        return Verdict.too_easy
    if leading_zero_bits(work(answer.challenge, answer.nonce)) < signed_bits:
        return Verdict.wrong
    return Verdict.proven

