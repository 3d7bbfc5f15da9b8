"""Each sealed thing opens with its own key and context, and with nothing else."""

from __future__ import annotations

import pytest

from intake import crypto, sealing
from intake.crypto import Keyring


def _keyring() -> Keyring:
    return Keyring(crypto.new_data_key(), crypto.new_data_key(), crypto.new_data_key())


def test_segment_draft_and_notes_round_trip_and_bind_their_place() -> None:
    keyring = _keyring()
    key, wrapped = sealing.new_testimony_key(keyring)
    assert sealing.testimony_key(keyring, wrapped) == key
    segment = sealing.seal_segment(key, 7, 3, {"text": "سلام", "words": []})
    assert sealing.open_segment(key, 7, 3, segment) == {"text": "سلام", "words": []}
    with pytest.raises(crypto.DecryptionError):
        sealing.open_segment(key, 7, 4, segment)  # moved to another position
    draft = sealing.seal_draft(key, 1, 2, {"task": "translate"})
    assert sealing.open_draft(key, 1, 2, draft) == {"task": "translate"}
    with pytest.raises(crypto.DecryptionError):
        sealing.open_draft(key, 1, 3, draft)
    notes = sealing.seal_removal_notes(key, 5, "Evin")
    assert sealing.open_removal_notes(key, 5, notes) == "Evin"
    with pytest.raises(crypto.DecryptionError):
        sealing.open_removal_notes(crypto.new_data_key(), 5, notes)


def test_identity_opens_with_a_custodian_key_only() -> None:
    keyring = _keyring()
    public, locked = sealing.new_custodian_key("a passphrase of words", passes=1, memory_mib=8)
    sealed = sealing.seal_identity(keyring, {4: public}, 9, "Maryam", "+98 912")
    assert sealed.waiting_key is None and set(sealed.custodian_keys) == {4}
    assert b"Maryam" not in sealed.sealed and b"912" not in sealed.sealed
    private = sealing.unlock_custodian_key(locked, "a passphrase of words")
    key = sealing.custodian_identity_key(private, sealed.custodian_keys[4])
    assert sealing.open_identity(key, 9, sealed.sealed) == {"name": "Maryam", "contact": "+98 912"}
    with pytest.raises(crypto.DecryptionError):
        sealing.unlock_custodian_key(locked, "a passphrase of word")
    with pytest.raises(crypto.DecryptionError):
        sealing.custodian_identity_key(keyring.master_key, sealed.custodian_keys[4])
    with pytest.raises(crypto.DecryptionError):
        sealing.open_identity(key, 10, sealed.sealed)  # moved to another testimony


def test_identity_waits_for_the_archive_until_a_custodian_exists() -> None:
    keyring = _keyring()
    sealed = sealing.seal_identity(keyring, {}, 9, "Maryam", "+98 912")
    assert sealed.custodian_keys == {} and sealed.waiting_key is not None
    key = sealing.waiting_identity_key(keyring, sealed.waiting_key)
    assert sealing.open_identity(key, 9, sealed.sealed)["name"] == "Maryam"
    with pytest.raises(crypto.DecryptionError):
        sealing.waiting_identity_key(_keyring(), sealed.waiting_key)
