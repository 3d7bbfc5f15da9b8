"""Receipt codes under guessing: typos answered at once, wrong codes limited server-side, and the
owner of a correct code never turned away."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from intake import crypto
from intake.config import Config
from intake.models import ReceiptFailure, Testimony, TestimonyState
from intake.public import receipts
from intake.public.gate import Gate
from intake.services import Services
from tests import audio_fixtures as fx
from tests.support import csrf_token, post_multipart, receipt_code, submit

MISTYPED = "a digit is probably mistyped"
UNKNOWN = "No testimony matches"


def _svc(app: Flask) -> Services:
    return app.extensions["testimony"]  # type: ignore[no-any-return]


def _limit(app: Flask, **overrides: object) -> None:
    svc = _svc(app)
    svc.config = svc.config.with_overrides(**overrides)


def _browser(app: Flask) -> FlaskClient:
    """A fresh browser (no cookies) reading English."""
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return browser


def _valid_but_wrong(pepper: bytes, n: int) -> list[str]:
    """Codes whose check digits are right but that nobody was given (bodies 0..n-1)."""
    bodies = [f"{i:012d}" for i in range(n)]
    return [b + crypto.receipt_check_digits(b, pepper, receipts.CHECK_DIGITS) for b in bodies]


def _typos(pepper: bytes, n: int) -> list[str]:
    """Codes whose check digits fail read in the card's order and with the groups reversed: what
    a mistyped code looks like (one in ten thousand codes passes reversed, and is not a typo)."""
    found = []
    for i in range(1, 10 * n):
        code = f"{(i * 7919) % 10**16:016d}"
        reversed_code = receipts.groups_reversed(code)
        if not (
            receipts.check_digits_match(code, pepper)
            or receipts.check_digits_match(reversed_code, pepper)
        ):
            found.append(code)
        if len(found) == n:
            return found
    raise AssertionError("too few typos")


def _ask(client: FlaskClient, code: str) -> tuple[int, str]:
    token = csrf_token(client, "/receipt")
    response = client.post("/receipt", data={"csrf_token": token, "code": code})
    return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts Argon2 receipt hashes, and the most running at once (the real hash still runs;
    it is made 50 ms slower so that overlapping calls surely overlap)."""
    seen = {"calls": 0, "now": 0, "most": 0}
    lock = threading.Lock()
    real: Callable[[str, bytes], bytes] = crypto.receipt_digest

    def counting(code: str, pepper: bytes) -> bytes:
        with lock:
            seen["calls"] += 1
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(0.05)
            return real(code, pepper)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(crypto, "receipt_digest", counting)
    yield seen


def test_new_codes_carry_valid_check_digits(app: Flask) -> None:
    pepper = _svc(app).keyring.receipt_pepper
    for _ in range(50):
        code = receipts.new_code(pepper)
        assert len(code) == 16 and code.isdigit()
        assert receipts.check_digits_match(code, pepper)
        assert not receipts.check_digits_match(code, bytes(32))  # keyed: another pepper fails
        for position in range(12, 16):  # any change to a check digit is caught
            digit = str((int(code[position]) + 1) % 10)
            assert not receipts.check_digits_match(
                code[:position] + digit + code[position + 1 :], pepper
            )


def test_a_typo_is_answered_at_once_without_a_hash(
    app: Flask, client: FlaskClient, hashes: dict[str, int]
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    hashes["calls"] = 0
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    status, html = _ask(client, typo)
    assert status == 400 and MISTYPED in html
    assert hashes["calls"] == 0
    status, html = _ask(client, code[:-2])
    assert status == 400 and "16 digits" in html
    status, html = _ask(client, code)
    assert status == 200 and hashes["calls"] == 1


def test_a_typo_is_explained_in_persian(app: Flask, client: FlaskClient) -> None:
    client.get("/language/fa?next=/")
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    status, html = _ask(client, code[:-1] + str((int(code[-1]) + 1) % 10))
    assert status == 400 and "احتمالاً یکی از رقم‌ها" in html


def test_owner_gets_in_at_once_after_500_wrong_codes_from_fresh_clients(
    app: Flask, client: FlaskClient, config: Config
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")], name="Owner"))
    _limit(app, receipt_failures_global_per_hour=100)
    pepper = _svc(app).keyring.receipt_pepper
    valid_wrong = _valid_but_wrong(pepper, 10)
    typos = _typos(pepper, 500)
    statuses = []
    for i in range(500):
        visitor = _browser(app)
        guess = valid_wrong[i // 50] if i % 50 == 0 else typos[i]
        statuses.append(_ask(visitor, guess)[0])
    assert set(statuses[:100]) == {400}
    # The budget is spent: every wrong code with valid check digits now waits, while a code
    # whose check digits fail is still answered as a typo (the owner's hint).
    assert {s for i, s in enumerate(statuses) if i >= 100 and i % 50 == 0} == {429}
    assert {s for i, s in enumerate(statuses) if i >= 100 and i % 50} == {400}

    started = time.monotonic()
    owner = _browser(app)
    status, html = _ask(owner, code)
    assert status == 200 and "Withdraw" in html
    token = csrf_token(owner, "/receipt")
    added = post_multipart(
        owner,
        "/receipt/add",
        {"csrf_token": token, "code": code, "audio": [(io.BytesIO(fx.tone_wav(1.0)), "b.wav")]},
    )
    assert added.status_code == 200 and "was added" in added.get_data(as_text=True)
    withdrawn = owner.post(
        "/receipt/withdraw", data={"csrf_token": token, "code": code, "confirm": "y"}
    )
    assert withdrawn.status_code == 200
    assert time.monotonic() - started < 10  # no lockout, no waiting for an hour to pass
    with _svc(app).db.session() as s:
        assert s.scalars(select(Testimony)).one().state == TestimonyState.withdrawn


def test_replaying_an_old_cookie_gives_no_bypass(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    _limit(app, receipt_failures_global_per_hour=5)
    visitor = _browser(app)
    token = csrf_token(visitor, "/receipt")
    cookie = visitor.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    fresh_cookie = cookie.value  # before any wrong code
    valid_wrong = _valid_but_wrong(_svc(app).keyring.receipt_pepper, 8)
    for i in range(5):
        wrong = visitor.post("/receipt", data={"csrf_token": token, "code": f"{i:016d}"})
        assert wrong.status_code == 400
    spent = visitor.post("/receipt", data={"csrf_token": token, "code": valid_wrong[6]})
    assert spent.status_code == 429
    replay = _browser(app)
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], fresh_cookie)
    again = replay.post("/receipt", data={"csrf_token": token, "code": valid_wrong[7]})
    assert again.status_code == 429  # the count is the server's, not the browser's
    assert "correct code is always accepted" in again.get_data(as_text=True)
    owner = replay.post("/receipt", data={"csrf_token": token, "code": code})
    assert owner.status_code == 200


def test_a_repeated_wrong_code_with_valid_check_digits_is_hashed_once(
    app: Flask, client: FlaskClient, hashes: dict[str, int]
) -> None:
    pepper = _svc(app).keyring.receipt_pepper
    (guess,) = _valid_but_wrong(pepper, 1)
    for _ in range(5):
        assert UNKNOWN in _ask(client, guess)[1]
    assert hashes["calls"] == 1
    # A testimony created since might hold that very code: then it is hashed, and found.
    submit(client, [(fx.tone_wav(1.0), "a.wav")])
    with _svc(app).db.session() as s:
        s.execute(update(Testimony).values(receipt_digest=receipts.digest(guess, pepper)))
    assert _ask(client, guess)[0] == 200


def _lookups_at_once(app: Flask, codes: list[str]) -> list[receipts.Outcome]:
    svc = _svc(app)
    cfg = svc.config
    gate = Gate(cfg.lock_path, "receipt", cfg.receipt_lookups_at_once, cfg.receipt_lookup_wait_s)
    misses = receipts.RecentMisses()
    outcomes: list[receipts.Outcome] = []

    def one(code: str) -> None:
        with svc.db.sessions() as s:
            found = receipts.lookup(
                s, code, svc.keyring.receipt_pepper, gate=gate, misses=misses, failures_per_hour=99
            )
            outcomes.append(found.outcome)

    threads = [threading.Thread(target=one, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_the_gate_bounds_hashes_running_at_once(app: Flask, hashes: dict[str, int]) -> None:
    _limit(app, receipt_lookups_at_once=1)
    codes = _valid_but_wrong(_svc(app).keyring.receipt_pepper, 6)
    outcomes = _lookups_at_once(app, codes)
    assert outcomes == [receipts.Outcome.unknown] * 6
    assert hashes["calls"] == 6 and hashes["most"] == 1


def test_the_gate_wait_is_bounded_and_never_a_refusal(app: Flask, client: FlaskClient) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    _limit(app, receipt_lookups_at_once=1, receipt_lookup_wait_s=0.3)
    cfg = _svc(app).config
    busy = Gate(cfg.lock_path, "receipt", 1, 0.0)
    with busy.held() as got:  # another process's lookup holds the only slot all along
        assert got
        started = time.monotonic()
        assert _lookups_at_once(app, [code]) == [receipts.Outcome.found]
        waited = time.monotonic() - started
    assert 0.3 <= waited < 5


def test_a_typo_is_still_explained_after_the_budget_is_spent(
    app: Flask, client: FlaskClient, hashes: dict[str, int]
) -> None:
    # A flood of guesses (about 4 s of them at the measured rate) spends the hourly budget; the
    # owner who then mistypes a digit is told so, not "too many attempts", and the answer
    # writes nothing.
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    _limit(app, receipt_failures_global_per_hour=5)
    for i in range(5):
        assert _ask(_browser(app), f"{i:016d}")[0] == 400
    pepper = _svc(app).keyring.receipt_pepper
    status, html = _ask(_browser(app), _valid_but_wrong(pepper, 1)[0])
    assert status == 429 and MISTYPED not in html
    with _svc(app).db.session() as s:
        counted = s.scalar(select(func.count()).select_from(ReceiptFailure))
    hashes["calls"] = 0
    owner = _browser(app)
    status, html = _ask(owner, code[:-1] + str((int(code[-1]) + 1) % 10))
    assert status == 400 and MISTYPED in html
    assert hashes["calls"] == 0
    with _svc(app).db.session() as s:
        assert s.scalar(select(func.count()).select_from(ReceiptFailure)) == counted
    assert _ask(owner, code)[0] == 200


def test_a_card_typed_right_to_left_in_persian_digits_is_found(
    app: Flask, client: FlaskClient
) -> None:
    code = receipt_code(submit(client, [(fx.tone_wav(1.0), "a.wav")]))
    groups = [code[i : i + 4] for i in range(0, 16, 4)]
    persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    # A Persian reader reads the card's four groups from the right and types them so.
    status, _html = _ask(client, " ".join(reversed(groups)).translate(persian))
    assert status == 200
    status, _html = _ask(client, " ".join(groups).translate(persian))
    assert status == 200


def test_where_both_orders_could_be_codes_the_visitor_is_asked_for_left_to_right(
    app: Flask, client: FlaskClient
) -> None:
    pepper = _svc(app).keyring.receipt_pepper
    # Search for a code whose reversed groups carry valid check digits too (1 in 10,000).
    bodies = (f"{i:012d}" for i in range(1_000_000))
    codes = (b + crypto.receipt_check_digits(b, pepper, receipts.CHECK_DIGITS) for b in bodies)
    both = next(
        c for c in codes if receipts.check_digits_match(receipts.groups_reversed(c), pepper)
    )
    assert receipts.in_card_order(both, pepper) is None
    status, html = _ask(client, receipts.groups_reversed(both))
    assert status == 400 and "from left to right" in html
    one = _valid_but_wrong(pepper, 1)[0]
    assert receipts.in_card_order(receipts.groups_reversed(one), pepper) == one
