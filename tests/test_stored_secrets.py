"""What intake seals and hashes can be opened (or matched) only the way it should be.

Both are read back from what intake stored, so the tests hold wherever the functions live. The
identity's associated data ("identity:<testimony id>") and the receipt hash's parameters are
part of the stored format: changing either makes every existing record unreadable or every
receipt unmatched, so the tests spell them out.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from argon2.low_level import Type, hash_secret_raw
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import crypto
from intake.config import Config
from intake.models import Identity, Testimony
from tests import audio_fixtures as fx
from tests.support import receipt_code, submit

NAME = "پروانه\u200cی رضایی"
CONTACT = "+98 912 000 0000"


def _argon2id(code: str, pepper: bytes) -> bytes:
    """OWASP's second Argon2id setting: 19 MiB, 2 passes, one lane, 32 bytes out."""
    return hash_secret_raw(
        code.encode("ascii"),
        pepper,
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )


def test_stored_receipt_digest_is_argon2id_of_the_code_with_the_pepper(
    app: Flask, client: FlaskClient
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(0.5), "a.wav")]))
    pepper = app.extensions["testimony"].keyring.receipt_pepper
    with app.extensions["testimony"].db.session() as s:
        stored = s.scalars(select(Testimony.receipt_digest)).one()
    assert stored == _argon2id(code, pepper)
    fast = [
        hashlib.sha256(code.encode()).digest(),
        hashlib.sha256(pepper + code.encode()).digest(),
        hashlib.sha256(code.encode() + pepper).digest(),
        hmac.new(pepper, code.encode(), hashlib.sha256).digest(),
    ]
    assert stored not in fast
    assert stored != _argon2id(code, bytes(len(pepper)))  # the pepper counts


def test_sealed_identity_opens_with_its_own_key_only(
    app: Flask, client: FlaskClient, migrated: Config
) -> None:
    response = submit(client, [(fx.tone_wav(0.5), "a.wav")], name=NAME, contact=CONTACT)
    assert response.status_code == 200
    with pytest.raises(crypto.MissingSecret):  # the public app, which sealed it, cannot open it
        app.extensions["testimony"].keyring.archive_private_key(b"")
    keyring = crypto.Keyring.load(archive=migrated.archive_keys, private=True, create=False)
    with app.extensions["testimony"].db.session() as s:
        identity = s.scalars(select(Identity)).one()
        testimony = s.scalars(select(Testimony)).one()
    context = f"identity:{testimony.id}".encode()

    private = keyring.archive_private_key(crypto.sealed_to(identity.wrapped_key))
    key = crypto.open_sealed_key(private, identity.wrapped_key)
    opened = json.loads(crypto.unseal(key, identity.sealed, context))
    assert opened == {"name": NAME, "contact": CONTACT}

    testimony_key = crypto.open_sealed_key(private, testimony.wrapped_key or b"")
    assert key != testimony_key  # a key of its own
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(testimony_key, identity.sealed, context)  # the content key opens no name
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed_key(crypto.new_key_pair()[0], identity.wrapped_key)  # another pair
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(key, identity.sealed, f"identity:{testimony.id + 1}".encode())
