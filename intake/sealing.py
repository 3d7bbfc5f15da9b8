"""Every sealed thing of a testimony, one function pair each: the only module that opens a key.

`intake.crypto` holds the ciphers; this module decides which key and which context each stored
value uses: a testimony's data key and each audio file's (sealed to the archive's public key),
the identity's own key, and the associated data that binds a sealed value to its table and row,
so that a ciphertext copied to another row fails to open. Views, tasks and the command line
call these functions and never `crypto.open_sealed_key` themselves (a test checks).

The public app only ever calls the sealing halves (`new_*_key`, `seal_*`): it holds the
archive's public key and no private key, so an "open" there raises `crypto.MissingSecret`.
"""

from __future__ import annotations

import json
from typing import Any

from intake import crypto
from intake.crypto import Keyring


def _new_sealed_key(keyring: Keyring) -> tuple[bytes, bytes]:
    key = crypto.new_data_key()
    return key, crypto.seal_key_to(keyring.archive_public_key, key)


def _open_key(keyring: Keyring, sealed: bytes) -> bytes:
    return crypto.open_sealed_key(keyring.archive_private_key(crypto.sealed_to(sealed)), sealed)


def new_testimony_key(keyring: Keyring) -> tuple[bytes, bytes]:
    """A fresh data key for a testimony and its sealed form, to store in the testimony row."""
    return _new_sealed_key(keyring)


def testimony_key(keyring: Keyring, sealed: bytes) -> bytes:
    """The data key of a testimony (segments, drafts, removal notes, older audio files)."""
    return _open_key(keyring, sealed)


def new_audio_key(keyring: Keyring) -> tuple[bytes, bytes]:
    """A fresh data key for one audio file and its sealed form, to store in its row.

    A key per file, so that adding audio to a testimony never needs the testimony's key, which
    the public app cannot open.
    """
    return _new_sealed_key(keyring)


def audio_key(keyring: Keyring, testimony_sealed: bytes, file_sealed: bytes | None) -> bytes:
    """The data key of one audio file; files stored before they had keys of their own use
    the testimony's."""
    return _open_key(keyring, file_sealed if file_sealed is not None else testimony_sealed)


def is_sealed_to(sealed: bytes, fingerprints: set[bytes]) -> bool:
    """Whether a sealed key was sealed to one of the archive keys named by `fingerprints`."""
    return crypto.sealed_to(sealed) in fingerprints


def reseal_key(keyring: Keyring, sealed: bytes) -> bytes:
    """A sealed key sealed again to the keyring's current archive public key (`testimony
    keys rotate`); the data key itself, and so everything it encrypts, stays as it is."""
    return crypto.seal_key_to(keyring.archive_public_key, _open_key(keyring, sealed))


def _seal_json(key: bytes, value: Any, context: bytes) -> bytes:
    return crypto.seal(key, json.dumps(value, ensure_ascii=False).encode(), context)


def _open_json(key: bytes, sealed: bytes, context: bytes) -> Any:
    return json.loads(crypto.unseal(key, sealed, context))


# --- transcript segments ---------------------------------------------------------------------


def _segment_context(transcript_id: int, position: int) -> bytes:
    return f"segment:{transcript_id}:{position}".encode()


def seal_segment(key: bytes, transcript_id: int, position: int, payload: dict[str, Any]) -> bytes:
    """Seal a segment's text and word timings, bound to its transcript and position."""
    return _seal_json(key, payload, _segment_context(transcript_id, position))


def open_segment(key: bytes, transcript_id: int, position: int, sealed: bytes) -> dict[str, Any]:
    """The text and word timings of a segment sealed by `seal_segment`."""
    value: dict[str, Any] = _open_json(key, sealed, _segment_context(transcript_id, position))
    return value


# --- machine translation drafts, one per review segment ---------------------------------------


def _draft_context(testimony_id: int, segment_id: int) -> bytes:
    return f"segment_draft:{testimony_id}:{segment_id}".encode()


def seal_segment_draft(key: bytes, testimony_id: int, segment_id: int, text: str) -> bytes:
    """Seal the machine draft of one segment, bound to its testimony and segment."""
    return crypto.seal(key, text.encode(), _draft_context(testimony_id, segment_id))


def open_segment_draft(key: bytes, testimony_id: int, segment_id: int, sealed: bytes) -> str:
    """A segment's machine draft sealed by `seal_segment_draft`."""
    return crypto.unseal(key, sealed, _draft_context(testimony_id, segment_id)).decode()


# --- translations, one per review segment ----------------------------------------------------


def _translation_context(testimony_id: int, segment_id: int) -> bytes:
    return f"translation:{testimony_id}:{segment_id}".encode()


def seal_translation(key: bytes, testimony_id: int, segment_id: int, text: str) -> bytes:
    """Seal a translator's text for one segment, bound to its testimony and segment."""
    return crypto.seal(key, text.encode(), _translation_context(testimony_id, segment_id))


def open_translation(key: bytes, testimony_id: int, segment_id: int, sealed: bytes) -> str:
    """A segment's translation sealed by `seal_translation`."""
    return crypto.unseal(key, sealed, _translation_context(testimony_id, segment_id)).decode()


# --- the submitter's "names and details to remove" -------------------------------------------


def _removal_context(testimony_id: int) -> bytes:
    return f"removal_notes:{testimony_id}".encode()


def seal_removal_notes(key: bytes, testimony_id: int, text: str) -> bytes:
    """Seal the names and details the submitter asked to remove before publication."""
    return crypto.seal(key, text.encode(), _removal_context(testimony_id))


def open_removal_notes(key: bytes, testimony_id: int, sealed: bytes) -> str:
    """The removal notes sealed by `seal_removal_notes`."""
    return crypto.unseal(key, sealed, _removal_context(testimony_id)).decode()


# --- identity ----------------------------------------------------------------------------------


def _identity_context(testimony_id: int) -> bytes:
    return f"identity:{testimony_id}".encode()


def seal_identity(
    keyring: Keyring, testimony_id: int, name: str, contact: str
) -> tuple[bytes, bytes]:
    """Seal name and contact under a key of their own; returns (sealed key, sealed value).

    A key apart from the testimony's, so that the people who handle testimony content never
    need the key that opens a name. The key is sealed to the archive's public key, so that the
    public app, which seals it, can never open it.
    """
    key, wrapped = _new_sealed_key(keyring)
    sealed = _seal_json(key, {"name": name, "contact": contact}, _identity_context(testimony_id))
    return wrapped, sealed


def open_identity(
    keyring: Keyring, testimony_id: int, wrapped: bytes, sealed: bytes
) -> dict[str, str]:
    """Name and contact sealed by `seal_identity`."""
    key = _open_key(keyring, wrapped)
    value: dict[str, str] = _open_json(key, sealed, _identity_context(testimony_id))
    return value


# --- an intake form's receipt code and kept files --------------------------------------------
# Keys derived from the form's one-time token, which the server never stores: the submitter's
# session holds the receipt key until the code is confirmed as written down.


def form_spool_key(token: str) -> bytes:
    """The key of the files kept for one intake form between rounds."""
    return crypto.derive_key(token.encode("ascii"), b"intake-form spool")


def form_receipt_key(token: str) -> bytes:
    """The key that seals one intake form's receipt code."""
    return crypto.derive_key(token.encode("ascii"), b"intake-form receipt")


def seal_receipt_code(receipt_key: bytes, form_digest: str, code: str) -> bytes:
    """Seal a receipt code, bound to its form."""
    return crypto.seal(receipt_key, code.encode("ascii"), form_digest.encode())


def open_receipt_code(receipt_key: bytes, form_digest: str, sealed: bytes) -> str:
    """A receipt code sealed by `seal_receipt_code` (DecryptionError for any other key)."""
    return crypto.unseal(receipt_key, sealed, form_digest.encode()).decode()


# --- staff accounts' second factor -----------------------------------------------------------


def seal_totp_secret(keyring: Keyring, account_id: int, secret: str) -> bytes:
    """Seal a staff account's TOTP secret under a key derived from the staff key (held by the
    staff app alone, and untouched by an archive key rotation), bound to that account."""
    key = crypto.derive_key(keyring.staff_key, b"staff-account-secrets")
    return crypto.seal(key, secret.encode(), f"totp:{account_id}".encode())


def open_totp_secret(keyring: Keyring, account_id: int, sealed: bytes) -> str:
    """A TOTP secret sealed by `seal_totp_secret`."""
    key = crypto.derive_key(keyring.staff_key, b"staff-account-secrets")
    return crypto.unseal(key, sealed, f"totp:{account_id}".encode()).decode()
