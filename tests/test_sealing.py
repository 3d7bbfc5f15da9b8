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


def test_identity_opens_with_the_instance_keys_only() -> None:
    keyring = _keyring()
    wrapped, sealed = sealing.seal_identity(keyring, 9, "Maryam", "+98 912")
    assert b"Maryam" not in sealed and b"912" not in sealed
    assert sealing.open_identity(keyring, 9, wrapped, sealed) == {
        "name": "Maryam",
        "contact": "+98 912",
    }
    with pytest.raises(crypto.DecryptionError):
        sealing.open_identity(_keyring(), 9, wrapped, sealed)
    with pytest.raises(crypto.DecryptionError):
        sealing.open_identity(keyring, 10, wrapped, sealed)
