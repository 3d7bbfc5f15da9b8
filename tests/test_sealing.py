"""Each sealed thing opens with its own key and context, and with nothing else."""

from __future__ import annotations

import pytest

from intake import crypto, sealing
from intake.crypto import Keyring


def _keyring() -> Keyring:
    private, public = crypto.new_key_pair()
    return Keyring(archive_public=public, archive_private=[private])


def _public_only(keyring: Keyring) -> Keyring:
    """What the public app holds of `keyring`: the archive's public key, no private one."""
    return Keyring(archive_public=keyring.archive_public_key)


def test_segment_draft_and_notes_round_trip_and_bind_their_place() -> None:
    keyring = _keyring()
    key, wrapped = sealing.new_testimony_key(keyring)
    assert sealing.testimony_key(keyring, wrapped) == key
    segment = sealing.seal_segment(key, 7, 3, {"text": "سلام", "words": []})
    assert sealing.open_segment(key, 7, 3, segment) == {"text": "سلام", "words": []}
    with pytest.raises(crypto.DecryptionError):
        sealing.open_segment(key, 7, 4, segment)  # moved to another position
    draft = sealing.seal_segment_draft(key, 1, 2, "My father")
    assert sealing.open_segment_draft(key, 1, 2, draft) == "My father"
    with pytest.raises(crypto.DecryptionError):
        sealing.open_segment_draft(key, 1, 3, draft)  # another segment's draft
    translated = sealing.seal_translation(key, 1, 2, "My father")
    assert sealing.open_translation(key, 1, 2, translated) == "My father"
    with pytest.raises(crypto.DecryptionError):
        sealing.open_translation(key, 1, 3, translated)
    with pytest.raises(crypto.DecryptionError):
        sealing.open_segment_draft(key, 1, 2, translated)  # a translation is not a draft
    notes = sealing.seal_removal_notes(key, 5, "Evin")
    assert sealing.open_removal_notes(key, 5, notes) == "Evin"
    with pytest.raises(crypto.DecryptionError):
        sealing.open_removal_notes(crypto.new_data_key(), 5, notes)


def test_the_public_half_seals_and_cannot_open() -> None:
    keyring = _keyring()
    public = _public_only(keyring)
    key, sealed = sealing.new_testimony_key(public)
    audio, sealed_audio = sealing.new_audio_key(public)
    assert key not in sealed and audio != key
    with pytest.raises(crypto.MissingSecret):
        sealing.testimony_key(public, sealed)
    assert sealing.testimony_key(keyring, sealed) == key
    assert sealing.audio_key(keyring, sealed, sealed_audio) == audio
    assert sealing.audio_key(keyring, sealed, None) == key  # a file from before its own key
    with pytest.raises(crypto.DecryptionError):
        sealing.testimony_key(_keyring(), sealed)  # another archive key
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.DecryptionError):
        sealing.testimony_key(keyring, tampered)


def test_reseal_moves_a_key_to_the_new_archive_key_unchanged() -> None:
    old = _keyring()
    key, sealed = sealing.new_testimony_key(old)
    new_private, new_public = crypto.new_key_pair()
    both = Keyring(archive_public=new_public, archive_private=[new_private, *old._private.values()])
    resealed = sealing.reseal_key(both, sealed)
    new_fp = {crypto.fingerprint(new_public)}
    assert sealing.is_sealed_to(resealed, new_fp) and not sealing.is_sealed_to(sealed, new_fp)
    assert sealing.testimony_key(Keyring(archive_private=[new_private]), resealed) == key
    with pytest.raises(crypto.DecryptionError):
        sealing.testimony_key(old, resealed)


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
        sealing.custodian_identity_key(crypto.new_key_pair()[0], sealed.custodian_keys[4])
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
