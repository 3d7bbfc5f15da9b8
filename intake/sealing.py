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
from collections.abc import Mapping
from dataclasses import dataclass
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
# Name and contact are sealed under a key of their own; that key is sealed to each custodian's
# public key (an X25519 sealed box), so sealing needs public keys only and the server, which
# holds no custodian's private key, cannot open a name. Each custodian's private key is kept
# locked under their passphrase. Until the first custodian exists, the identity key waits
# sealed to the archive's public key (`_wrap_waiting`), and the first custodian's creation
# re-seals it, where the archive's private key is (the command line on the staff side).


def _identity_context(testimony_id: int) -> bytes:
    return f"identity:{testimony_id}".encode()


def _wrap_waiting(keyring: Keyring, key: bytes) -> bytes:
    # The one place that says how an identity waits for its first custodian: sealed to the
    # archive, so the public app that seals it can never open it.
    return crypto.seal_key_to(keyring.archive_public_key, key)


@dataclass(frozen=True)
class SealedIdentity:
    """Name and contact sealed once, and their key sealed to each custodian (by id); the key
    waits for the archive (`waiting_key`) only when there is no custodian yet."""

    sealed: bytes
    custodian_keys: dict[int, bytes]
    waiting_key: bytes | None


def seal_identity(
    keyring: Keyring,
    custodians: Mapping[int, bytes],
    testimony_id: int,
    name: str,
    contact: str,
) -> SealedIdentity:
    """Seal name and contact for the custodians (`custodians`: id -> public key).

    Needs no private key: the public app seals and can never open. With no custodian yet, the
    key is sealed to the archive instead, to be re-sealed when the first custodian is made.
    """
    key = crypto.new_data_key()
    sealed = _seal_json(key, {"name": name, "contact": contact}, _identity_context(testimony_id))
    sealed_keys = {cid: crypto.seal_to(public, key) for cid, public in custodians.items()}
    waiting = None if sealed_keys else _wrap_waiting(keyring, key)
    return SealedIdentity(sealed, sealed_keys, waiting)


def open_identity(key: bytes, testimony_id: int, sealed: bytes) -> dict[str, str]:
    """Name and contact sealed by `seal_identity`, given the identity key from
    `custodian_identity_key` (or, before any custodian exists, `waiting_identity_key`)."""
    value: dict[str, str] = _open_json(key, sealed, _identity_context(testimony_id))
    return value


def custodian_identity_key(private_key: bytes, sealed_key: bytes) -> bytes:
    """An identity's key, opened with an unlocked custodian private key."""
    return crypto.open_sealed(private_key, sealed_key)


def waiting_identity_key(keyring: Keyring, waiting_key: bytes) -> bytes:
    """The key of an identity that waits for its first custodian; only for re-sealing it."""
    return _open_key(keyring, waiting_key)


def seal_identity_key(public_key: bytes, key: bytes) -> bytes:
    """An identity's key sealed to one more custodian."""
    return crypto.seal_to(public_key, key)


def new_custodian_key(passphrase: str, *, passes: int, memory_mib: int) -> tuple[bytes, bytes]:
    """A custodian's key pair: (public key, private key locked under the passphrase).

    The private key exists in clear only inside this call and `unlock_custodian_key`."""
    private, public = crypto.new_key_pair()
    return public, crypto.lock_with_passphrase(
        private, passphrase, passes=passes, memory_mib=memory_mib
    )


def unlock_custodian_key(locked: bytes, passphrase: str) -> bytes:
    """A custodian's private key, for one request; DecryptionError for a wrong passphrase."""
    return crypto.unlock_with_passphrase(locked, passphrase)


# A name a custodian released for one record's export, and the written reason of each reveal:
# sealed for the archive (the staff app and the exporter), bound to their testimony.


def _seal_for_archive(keyring: Keyring, plaintext: bytes, context: bytes) -> bytes:
    # A key of its own, sealed to the archive's public key, in front of the value it seals.
    key, sealed_key = _new_sealed_key(keyring)
    return len(sealed_key).to_bytes(2, "big") + sealed_key + crypto.seal(key, plaintext, context)


def _open_for_archive(keyring: Keyring, sealed: bytes, context: bytes) -> bytes:
    size = int.from_bytes(sealed[:2], "big")
    key = _open_key(keyring, sealed[2 : 2 + size])
    return crypto.unseal(key, sealed[2 + size :], context)


def seal_released_name(keyring: Keyring, testimony_id: int, name: str) -> bytes:
    """Seal a released name for the exporter of this one testimony (the archive's key)."""
    return _seal_for_archive(keyring, name.encode(), f"released_name:{testimony_id}".encode())


def open_released_name(keyring: Keyring, testimony_id: int, sealed: bytes) -> str:
    """A name sealed by `seal_released_name`."""
    context = f"released_name:{testimony_id}".encode()
    return _open_for_archive(keyring, sealed, context).decode()


def seal_reveal_reason(keyring: Keyring, reveal_id: int, reason: str) -> bytes:
    """Seal the reason a custodian gave for one reveal, bound to that reveal."""
    return _seal_for_archive(keyring, reason.encode(), f"reveal_reason:{reveal_id}".encode())


def open_reveal_reason(keyring: Keyring, reveal_id: int, sealed: bytes) -> str:
    """A reason sealed by `seal_reveal_reason`."""
    context = f"reveal_reason:{reveal_id}".encode()
    return _open_for_archive(keyring, sealed, context).decode()


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


# --- segment words aligned to the audio ------------------------------------------------------


def _alignment_context(testimony_id: int, segment_id: int) -> bytes:
    return f"alignment:{testimony_id}:{segment_id}".encode()


def seal_alignment(
    key: bytes, testimony_id: int, segment_id: int, payload: dict[str, Any]
) -> bytes:
    """Seal a segment's aligned words, with the text they were aligned from, bound to its
    testimony and segment (the words are the text itself, so they are sealed like it)."""
    return _seal_json(key, payload, _alignment_context(testimony_id, segment_id))


def open_alignment(
    key: bytes, testimony_id: int, segment_id: int, sealed: bytes
) -> dict[str, Any]:
    """The aligned words sealed by `seal_alignment`."""
    value: dict[str, Any] = _open_json(key, sealed, _alignment_context(testimony_id, segment_id))
    return value


# --- index points -------------------------------------------------------------------------
# An index point's words (title, synopsis, keywords, subjects, partial transcript, and the same
# in the other language) are the indexer's summary of the testimony: sealed like its segments.


def _index_point_context(testimony_id: int, audio_file_id: int) -> bytes:
    return f"index_point:{testimony_id}:{audio_file_id}".encode()


def seal_index_point(
    key: bytes, testimony_id: int, audio_file_id: int, payload: dict[str, Any]
) -> bytes:
    """Seal an index point's words, bound to its testimony and recording."""
    return _seal_json(key, payload, _index_point_context(testimony_id, audio_file_id))


def open_index_point(
    key: bytes, testimony_id: int, audio_file_id: int, sealed: bytes
) -> dict[str, Any]:
    """The words sealed by `seal_index_point`."""
    value: dict[str, Any] = _open_json(
        key, sealed, _index_point_context(testimony_id, audio_file_id)
    )
    return value


# --- questions to a submitter, and their answers ---------------------------------------------
# The archive holds no contact detail, so a question waits on the status page, sealed to a key
# pair derived from the receipt code (`crypto.receipt_message_private_key`): the public app
# stores only the public half, the staff app seals to it, and only the typed code opens it. A
# copy of each question is sealed to the archive, so that staff read what was asked; answers
# are sealed to the archive like all content. The public app can open neither side: it holds
# no archive private key, and no code outside the request that typed it.


def submitter_message_keys(code: str, pepper: bytes) -> tuple[bytes, bytes]:
    """The (private, public) X25519 pair of a receipt code's questions; the private half
    exists only inside the request that typed the code."""
    private = crypto.receipt_message_private_key(code, pepper)
    return private, crypto.public_key_of(private)


def _question_bind(testimony_id: int, question_id: int) -> str:
    return f"question:{testimony_id}:{question_id}"


def seal_question_for_submitter(
    public_key: bytes, testimony_id: int, question_id: int, text: str
) -> bytes:
    """Seal a question to the submitter's public key (a sealed box: anyone may seal, only the
    code's private key opens), with its place inside, since a sealed box has no associated
    data: a ciphertext moved to another row fails to open there."""
    payload = json.dumps({"bind": _question_bind(testimony_id, question_id), "text": text})
    return crypto.seal_to(public_key, payload.encode())


def open_question_for_submitter(
    private_key: bytes, testimony_id: int, question_id: int, sealed: bytes
) -> str:
    """A question sealed by `seal_question_for_submitter`; DecryptionError for another key or
    another row."""
    value = json.loads(crypto.open_sealed(private_key, sealed))
    if value.get("bind") != _question_bind(testimony_id, question_id):
        raise crypto.DecryptionError("the question belongs to another row")
    return str(value["text"])


def seal_question_for_archive(
    keyring: Keyring, testimony_id: int, question_id: int, text: str
) -> bytes:
    """The staff's copy of a question, sealed to the archive, bound to its row."""
    context = f"question_archive:{testimony_id}:{question_id}".encode()
    return _seal_for_archive(keyring, text.encode(), context)


def open_question_for_archive(
    keyring: Keyring, testimony_id: int, question_id: int, sealed: bytes
) -> str:
    """A question sealed by `seal_question_for_archive`."""
    context = f"question_archive:{testimony_id}:{question_id}".encode()
    return _open_for_archive(keyring, sealed, context).decode()


def seal_answer(keyring: Keyring, testimony_id: int, question_id: int, text: str) -> bytes:
    """A submitter's written answer, sealed to the archive (the public app only seals)."""
    context = f"answer:{testimony_id}:{question_id}".encode()
    return _seal_for_archive(keyring, text.encode(), context)


def open_answer(keyring: Keyring, testimony_id: int, question_id: int, sealed: bytes) -> str:
    """An answer sealed by `seal_answer`."""
    context = f"answer:{testimony_id}:{question_id}".encode()
    return _open_for_archive(keyring, sealed, context).decode()


# --- the entity register -----------------------------------------------------------------------
# An entity's names and facts (a person's name may be one a survivor spoke) are sealed for the
# archive like a released name: of no one testimony, opened by the staff app and the exporter.


def seal_entity(keyring: Keyring, entity_id: int, payload: dict[str, Any]) -> bytes:
    """Seal an entity's names and facts, bound to its row."""
    data = json.dumps(payload, ensure_ascii=False).encode()
    return _seal_for_archive(keyring, data, f"entity:{entity_id}".encode())


def open_entity(keyring: Keyring, entity_id: int, sealed: bytes) -> dict[str, Any]:
    """The names and facts sealed by `seal_entity`."""
    value: dict[str, Any] = json.loads(
        _open_for_archive(keyring, sealed, f"entity:{entity_id}".encode())
    )
    return value
