"""Every sealed thing of a testimony, one function pair each: the only module that opens a key.

`intake.crypto` holds the ciphers; this module decides which key and which context each stored
value uses: a testimony's data key (wrapped by the master key), the identity's own key, and the
associated data that binds a sealed value to its table and row, so that a ciphertext copied to
another row fails to open. Views, tasks and the command line call these functions and never
`crypto.unwrap_key` themselves (a test checks), so that taking decryption out of the public app
changes this one place.
"""

from __future__ import annotations

import json
from typing import Any

from intake import crypto
from intake.crypto import Keyring


def new_testimony_key(keyring: Keyring) -> tuple[bytes, bytes]:
    """A fresh data key for a testimony and its wrapped form, to store in the testimony row."""
    key = crypto.new_data_key()
    return key, crypto.wrap_key(keyring.master_key, key)


def testimony_key(keyring: Keyring, wrapped: bytes) -> bytes:
    """The data key of a testimony (files, segments, drafts, removal notes)."""
    return crypto.unwrap_key(keyring.master_key, wrapped)


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


# --- machine translation drafts --------------------------------------------------------------


def _draft_context(testimony_id: int, audio_file_id: int) -> bytes:
    return f"machine_draft:{testimony_id}:{audio_file_id}".encode()


def seal_draft(
    key: bytes, testimony_id: int, audio_file_id: int, payload: dict[str, Any]
) -> bytes:
    """Seal a machine draft, bound to its testimony and audio file."""
    return _seal_json(key, payload, _draft_context(testimony_id, audio_file_id))


def open_draft(key: bytes, testimony_id: int, audio_file_id: int, sealed: bytes) -> dict[str, Any]:
    """A machine draft sealed by `seal_draft`."""
    value: dict[str, Any] = _open_json(key, sealed, _draft_context(testimony_id, audio_file_id))
    return value


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
    """Seal name and contact under a key of their own; returns (wrapped key, sealed value).

    A key apart from the testimony's, so that the people who handle testimony content never
    need the key that opens a name.
    """
    key = crypto.new_data_key()
    sealed = _seal_json(key, {"name": name, "contact": contact}, _identity_context(testimony_id))
    return crypto.wrap_key(keyring.master_key, key), sealed


def open_identity(
    keyring: Keyring, testimony_id: int, wrapped: bytes, sealed: bytes
) -> dict[str, str]:
    """Name and contact sealed by `seal_identity`."""
    key = crypto.unwrap_key(keyring.master_key, wrapped)
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
    """Seal a staff account's TOTP secret under a key derived for account secrets (the master
    key itself only wraps keys), bound to that account."""
    key = crypto.derive_key(keyring.master_key, b"staff-account-secrets")
    return crypto.seal(key, secret.encode(), f"totp:{account_id}".encode())


def open_totp_secret(keyring: Keyring, account_id: int, sealed: bytes) -> str:
    """A TOTP secret sealed by `seal_totp_secret`."""
    key = crypto.derive_key(keyring.master_key, b"staff-account-secrets")
    return crypto.unseal(key, sealed, f"totp:{account_id}".encode()).decode()


# --- redacted access copies' text ------------------------------------------------------------


def _access_text_context(testimony_id: int, audio_file_id: int) -> bytes:
    return f"access_copy:{testimony_id}:{audio_file_id}".encode()


def seal_access_text(
    key: bytes, testimony_id: int, audio_file_id: int, payload: dict[str, Any]
) -> bytes:
    """Seal the redacted text of an access copy, bound to its testimony and audio file. Sealed
    although redacted: redaction is a reviewer's judgement, and may have missed something."""
    return _seal_json(key, payload, _access_text_context(testimony_id, audio_file_id))


def open_access_text(
    key: bytes, testimony_id: int, audio_file_id: int, sealed: bytes
) -> dict[str, Any]:
    """The redacted text sealed by `seal_access_text`."""
    value: dict[str, Any] = _open_json(
        key, sealed, _access_text_context(testimony_id, audio_file_id)
    )
    return value
