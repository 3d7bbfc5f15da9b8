"""Every `next=` on both apps is judged by one function (`security.local_path`): the known ways
of turning a path into another host are refused on the public language switch, the staff
language switch and the staff sign-in, and own paths still work."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from flask import Flask

from intake import security
from intake.views.staff import auth
from tests.staff_support import code_for, ready_account, staff_client
from tests.support import csrf_token

# Each of these, put in a Location header, has led a browser (or a server-side URL parser) to
# another host: scheme-relative paths, backslashes read as slashes, tabs and newlines dropped
# by the browser, percent-encoded slashes decoded somewhere on the way, absolute URLs.
BYPASSES = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "/%0D/evil.example",
    "/%2f%2fevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%252f%252fevil.example",
    "/%5cevil.example",
    "/%5C%5Cevil.example",
    "/%20/evil.example",
    "/%E2%80%8B/evil.example",  # a zero-width space
    "/%E2%80%AE/evil.example",  # a right-to-left override
    "%2f%2fevil.example",
    "https://evil.example",
    "http:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%25252f%25252f%25252fevil.example",  # more layers of encoding than are undone
]


@pytest.mark.parametrize("target", BYPASSES)
def test_the_judge_refuses_every_known_bypass(target: str) -> None:
    # The apps see `next` once decoded (as a query argument): judge both forms.
    assert security.local_path(target) is None
    assert security.local_path(unquote(target)) is None
    assert security.local_path(target, "/staff/") is None


@pytest.mark.parametrize(
    "target",
    ["/", "/receipt", "/staff/review/", "/staff/review/?page=2", "/staff/review/?q=%D8%A7"],
)
def test_the_judge_keeps_own_paths(target: str) -> None:
    prefix = "/staff/" if target.startswith("/staff/") else "/"
    assert security.local_path(target, prefix) == target


def test_the_staff_prefix_is_kept() -> None:
    assert security.local_path("/receipt", "/staff/") is None
    assert security.local_path("/staff/../receipt", "/staff/") == "/staff/../receipt"


@pytest.mark.parametrize("target", BYPASSES)
def test_the_public_language_switch_never_leaves_the_site(app: Flask, target: str) -> None:
    client = app.test_client()
    response = client.get("/language/en", query_string=f"next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_public_language_switch_goes_back_to_the_page(app: Flask) -> None:
    response = app.test_client().get("/language/fa", query_string="next=/receipt")
    assert response.headers["Location"] == "/receipt"


@pytest.mark.parametrize("target", BYPASSES)
def test_the_staff_language_switch_never_leaves_the_site(staff_app: Flask, target: str) -> None:
    response = staff_client(staff_app).get("/staff/language/en", query_string=f"next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"


@pytest.mark.parametrize("target", BYPASSES)
def test_the_staff_sign_in_keeps_no_foreign_next(staff_app: Flask, target: str) -> None:
    client = staff_client(staff_app)
    assert client.get("/staff/sign-in", query_string=f"next={target}").status_code == 200
    with client.session_transaction() as session:
        assert session[auth.NEXT] == "/staff/"


def test_signing_in_with_a_foreign_next_lands_on_the_staff_home(staff_app: Flask) -> None:
    staff = ready_account(staff_app, "next@example.org", [])
    client = staff_client(staff_app)
    client.get("/staff/sign-in", query_string="next=/%09/evil.example")
    # A forged session value is judged again at the end of the sign-in.
    with client.session_transaction() as session:
        session[auth.NEXT] = "/\t/evil.example"
    token = csrf_token(client, "/staff/sign-in")
    r = client.post(
        "/staff/sign-in",
        data={"csrf_token": token, "email": staff.email, "password": staff.password},
    )
    assert r.status_code == 302
    with client.session_transaction() as session:
        session[auth.NEXT] = "/\t/evil.example"
    token = csrf_token(client, "/staff/sign-in/code")
    r = client.post(
        "/staff/sign-in/code", data={"csrf_token": token, "code": code_for(staff.secret)}
    )
    assert r.status_code == 302 and r.headers["Location"] == "/staff/"


def test_signing_in_goes_on_to_the_page_asked_for(staff_app: Flask) -> None:

    client = staff_client(staff_app)
    client.get("/staff/sign-in", query_string="next=/staff/review/?page=2")
    with client.session_transaction() as session:
        assert session[auth.NEXT] == "/staff/review/?page=2"
