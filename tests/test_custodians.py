"""Identities sealed to the custodians: the apps and workers seal names but cannot open them;
a custodian opens one with their passphrase and a written reason, and every reveal and name
release is an event. Adding custodians: the first receives the waiting identities, a further
one only through an existing custodian's passphrase."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import create_app, crypto, sealing
from intake.cli import main
from intake.config import Config
from intake.crypto import Keyring
from intake.events import Action
from intake.models import (
    Custodian,
    Event,
    Identity,
    IdentityReveal,
    IdentitySeal,
    Role,
    StaffAccount,
    Testimony,
)
from intake.public import custodians, identity
from intake.records import accounts
from tests import audio_fixtures as fx
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import ALL_CONSENT, csrf_token, submit, worker_keyring

PASS_A = "correct horse battery staple"
PASS_B = "a second custodian's own words"
REASON = "the family asked us to confirm the contact (request 2031-4)"
NAME, CONTACT = "Canary Parvaneh Mohammadi", "canary-contact@example.org"


@pytest.fixture
def cheap(config: Config) -> Config:
    """The same instance with a cheap passphrase stretch: the tests make several keys."""
    return config.with_overrides(custodian_kdf_passes=1, custodian_kdf_mib=8)


def _keyring(app: Flask) -> Keyring:
    # What the staff side holds (the archive's private key): the public app holds none.
    return worker_keyring(app)


def _add(app: Flask, cfg: Config, email: str, passphrase: str, existing: str | None = None) -> int:
    with app.extensions["testimony"].db.session() as s:
        if accounts.find(s, email) is None:
            accounts.create(s, email, [Role.reviewer])
        added = custodians.add(s, _keyring(app), cfg, email, passphrase, existing)
    return added.account_id


def _submit_named(client: FlaskClient, **consent: str) -> None:
    submit(
        client,
        [(fx.tone_wav(1.0), "a.wav")],
        consent={**ALL_CONSENT, **consent},
        name=NAME,
        contact=CONTACT,
    )


def _only(app: Flask) -> tuple[Testimony, Identity]:
    with app.extensions["testimony"].db.session() as s:
        t = s.scalars(select(Testimony).order_by(Testimony.id.desc())).first()
        assert t is not None
        row = s.scalars(select(Identity).where(Identity.testimony_id == t.id)).one()
        s.expunge_all()
    return t, row


@pytest.fixture
def worker_app(migrated: Config) -> Iterator[Flask]:
    application = create_app(migrated, "worker")
    yield application
    application.extensions["testimony"].db.dispose()


def test_no_key_of_the_apps_or_workers_opens_an_identity(
    app: Flask, client: FlaskClient, staff_app: Flask, worker_app: Flask, cheap: Config
) -> None:
    _add(app, cheap, "keeper@example.org", PASS_A)
    _submit_named(client)
    testimony, row = _only(app)
    assert row.wrapped_key is None  # nothing waits for the archive once a custodian exists
    with app.extensions["testimony"].db.session() as s:
        seals = s.scalars(select(IdentitySeal)).all()
        assert [x.identity_id for x in seals] == [row.id]
        sealed_key = seals[0].sealed
    # Every secret any audience loads, and every key derived from them the way sealing derives
    # keys, tried as a custodian private key and as the identity key itself.
    secrets: list[bytes] = []
    for application in (app, staff_app, worker_app):
        ring: Keyring = application.extensions["testimony"].keyring
        held = [v for v in ring._secrets.values() if v is not None]  # noqa: SLF001 - every one
        held += list(ring._private.values())  # noqa: SLF001 - the archive's private keys
        for secret in held:
            secrets.append(secret)
            for label in (b"released-names", b"reveal-reasons", b"staff-account-secrets"):
                secrets.append(crypto.derive_key(secret, label))
    assert secrets
    for secret in secrets:
        with pytest.raises(crypto.DecryptionError):
            sealing.custodian_identity_key(secret, sealed_key)
        with pytest.raises(crypto.DecryptionError):
            sealing.open_identity(secret, testimony.id, row.sealed)
    for needle in (NAME.encode(), CONTACT.encode()):
        assert needle not in row.sealed and needle not in sealed_key


def test_a_custodian_opens_with_the_right_passphrase_only_and_each_reveal_is_an_event(
    app: Flask, client: FlaskClient, cheap: Config
) -> None:
    account_id = _add(app, cheap, "keeper@example.org", PASS_A)
    _submit_named(client)
    testimony, _row = _only(app)
    keyring = _keyring(app)
    with app.extensions["testimony"].db.session() as s:
        with pytest.raises(identity.IdentityError) as wrong:
            identity.reveal(s, keyring, account_id, testimony.pseudonym, PASS_B, REASON)
        assert wrong.value.reason == "wrong_passphrase"
        with pytest.raises(identity.IdentityError) as short:
            identity.reveal(s, keyring, account_id, testimony.pseudonym, PASS_A, "because")
        assert short.value.reason == "reason_short"
        assert s.scalars(select(Event).where(Event.action == Action.identity_revealed)).all() == []
    with app.extensions["testimony"].db.session() as s:
        # Typed by hand: lower case, spaces around it, an O for a 0 (Crockford's reading).
        typed = f"  {testimony.pseudonym.lower().replace('0', 'o')} "
        shown = identity.reveal(s, keyring, account_id, typed, PASS_A, REASON)
    assert (shown.name, shown.contact) == (NAME, CONTACT) and shown.pseudonym == testimony.pseudonym
    with app.extensions["testimony"].db.session() as s:
        event = s.scalars(select(Event).where(Event.action == Action.identity_revealed)).one()
        assert event.testimony_id == testimony.id and event.account_id == account_id
        assert event.detail is not None
        assert event.detail["reason_chars"] == len(REASON)
        assert event.detail["reason_sha256"] == hashlib.sha256(REASON.encode()).hexdigest()
        # The reason itself is sealed for the archive, not written into the log.
        assert "request" not in repr(event.detail)
        use = s.scalars(select(IdentityReveal)).one()
        assert use.reason_sealed is not None and b"request" not in use.reason_sealed
        assert sealing.open_reveal_reason(keyring, use.id, use.reason_sealed) == REASON
        # A reviewer holds no custodian key: the role check aside, the domain refuses too.
        reviewer, _once = accounts.create(s, "reviewer@example.org", [Role.reviewer])
        with pytest.raises(identity.IdentityError) as none:
            identity.reveal(s, keyring, reviewer.id, testimony.pseudonym, PASS_A, REASON)
        assert none.value.reason == "no_custodian_key"


def test_the_first_custodian_receives_the_waiting_identities(
    app: Flask, client: FlaskClient, cheap: Config
) -> None:
    _submit_named(client)
    testimony, row = _only(app)
    assert row.wrapped_key is not None  # intake works before any custodian: it waits
    account_id = _add(app, cheap, "first@example.org", PASS_A)
    _testimony, row = _only(app)
    assert row.wrapped_key is None
    with app.extensions["testimony"].db.session() as s:
        account = s.get(StaffAccount, account_id)
        assert account is not None and Role.custodian in accounts.role_set(account)
        shown = identity.reveal(s, _keyring(app), account_id, testimony.pseudonym, PASS_A, REASON)
        assert shown.name == NAME
        resealed = s.scalars(select(Event).where(Event.action == Action.identities_resealed))
        assert resealed.one().detail == {"custodian": 1, "count": 1}


def test_a_further_custodian_needs_an_existing_custodians_passphrase(
    app: Flask, client: FlaskClient, cheap: Config
) -> None:
    _add(app, cheap, "first@example.org", PASS_A)
    _submit_named(client)
    testimony, _row = _only(app)
    db = app.extensions["testimony"].db
    with db.session() as s:
        accounts.create(s, "second@example.org", [Role.archivist])
    for existing, why in (
        (None, "existing_passphrase_needed"),
        (PASS_B, "wrong_existing_passphrase"),
    ):
        with db.sessions() as s, pytest.raises(custodians.CustodianError) as refused:
            custodians.add(s, _keyring(app), cheap, "second@example.org", PASS_B, existing)
        assert refused.value.reason == why
    with db.sessions() as s:
        assert len(s.scalars(select(Custodian)).all()) == 1  # nothing half-made was left
    second = _add(app, cheap, "second@example.org", PASS_B, PASS_A)
    with db.session() as s:
        shown = identity.reveal(s, _keyring(app), second, testimony.pseudonym, PASS_B, REASON)
        assert shown.contact == CONTACT
        # Identities that arrive later are sealed to both.
        assert len(s.scalars(select(IdentitySeal)).all()) == 2


def test_a_name_is_released_for_export_only_where_consent_allows(
    app: Flask, client: FlaskClient, cheap: Config
) -> None:
    account_id = _add(app, cheap, "keeper@example.org", PASS_A)
    keyring = _keyring(app)
    db = app.extensions["testimony"].db
    _submit_named(client)
    anonymous, _row = _only(app)
    with db.sessions() as s, pytest.raises(identity.IdentityError) as refused:
        identity.release_name(s, keyring, account_id, anonymous.pseudonym, PASS_A, REASON)
    assert refused.value.reason == "no_consent"
    _submit_named(client, publish_named="y")
    named, _row = _only(app)
    with db.session() as s:
        assert identity.released_name(s, keyring, named.id) is None
        identity.release_name(s, keyring, account_id, named.pseudonym, PASS_A, REASON)
    with db.session() as s:
        assert identity.released_name(s, keyring, named.id) == NAME
        assert identity.released_name(s, keyring, anonymous.id) is None
        event = s.scalars(select(Event).where(Event.action == Action.name_released)).one()
        assert event.testimony_id == named.id and NAME not in repr(event.detail)


def test_custodian_add_command_asks_for_an_existing_passphrase(app: Flask, cheap: Config) -> None:
    env = {
        "TESTIMONY_INSTANCE_PATH": str(cheap.instance_path),
        "TESTIMONY_DATABASE_URL": cheap.database_url,
        "TESTIMONY_BROKER_URL": cheap.broker_url,
        "TESTIMONY_CUSTODIAN_KDF_PASSES": "1",
        "TESTIMONY_CUSTODIAN_KDF_MIB": "8",
    }
    with app.extensions["testimony"].db.session() as s:
        accounts.create(s, "first@example.org", [Role.admin])
        accounts.create(s, "second@example.org", [Role.reviewer])
    run = CliRunner().invoke
    missing = run(
        main,
        ["custodian", "add", "nobody@example.org", "--passphrase-stdin"],
        env=env,
        input=PASS_A,
    )
    assert missing.exit_code != 0 and "no staff account" in missing.output
    first = run(
        main, ["custodian", "add", "first@example.org"], env=env, input=f"{PASS_A}\n{PASS_A}\n"
    )
    assert first.exit_code == 0, first.output
    assert PASS_A not in first.output  # asked without echo
    wrong = run(
        main,
        ["custodian", "add", "second@example.org", "--passphrase-stdin"],
        env=env,
        input=f"{PASS_B}\n{PASS_B}\n",
    )
    assert wrong.exit_code != 0 and "opens no existing custodian" in wrong.output
    second = run(
        main,
        ["custodian", "add", "second@example.org", "--passphrase-stdin"],
        env=env,
        input=f"{PASS_B}\n{PASS_A}\n",
    )
    assert second.exit_code == 0, second.output
    with app.extensions["testimony"].db.session() as s:
        held = s.scalars(select(Custodian)).all()
        assert len(held) == 2 and all(PASS_A.encode() not in c.locked_key for c in held)


def test_the_custodian_page_shows_an_identity_once_and_never_caches_it(
    app: Flask, client: FlaskClient, staff_app: Flask, cheap: Config
) -> None:
    keeper = ready_account(staff_app, "keeper@example.org", [Role.custodian])
    _add(app, cheap, keeper.email, PASS_A)
    _submit_named(client)
    testimony, _row = _only(app)
    browser = staff_client(staff_app)
    sign_in(browser, keeper)
    token = csrf_token(browser, "/staff/custodian/")
    form = {"csrf_token": token, "pseudonym": testimony.pseudonym, "reason": REASON}
    wrong = browser.post("/staff/custodian/reveal", data={**form, "passphrase": PASS_B})
    assert wrong.status_code == 400 and "The passphrase is wrong." in wrong.get_data(as_text=True)
    assert NAME not in wrong.get_data(as_text=True)
    shown = browser.post("/staff/custodian/reveal", data={**form, "passphrase": PASS_A})
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and NAME in page and CONTACT in page
    assert shown.headers["Cache-Control"] == "no-store"
    assert PASS_A not in page  # the passphrase is never sent back
    persian = browser.post(
        "/staff/custodian/reveal",
        data={**form, "passphrase": PASS_A, "reason": "کوتاه"},
        headers={"Accept-Language": "fa"},
    )
    assert persian.status_code == 400 and "دلیل را دست‌کم" in persian.get_data(as_text=True)
    with app.extensions["testimony"].db.session() as s:
        reveals = s.scalars(select(Event).where(Event.action == Action.identity_revealed)).all()
        assert [e.account_id for e in reveals] == [keeper.id]
