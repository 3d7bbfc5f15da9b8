"""The access matrix: every route of both apps, requested as every role and anonymously.

The expected set is written out per endpoint, so a route added without a rule here (or with a
rule other than the one meant) makes the test fail.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from intake import access
from intake.models import Role
from tests.staff_support import (
    ready_account,
    sign_in,
    staff_client,
    transcribed_testimony,
)
from tests.support import csrf_token

ANON = "anonymous"
EVERYONE = {ANON, *Role}
STAFF = set(Role)

EXPECTED: dict[str, set[str | Role]] = {
    "static": EVERYONE,
    "staff_auth.sign_in": EVERYONE,
    "staff_auth.password": EVERYONE,
    "staff_auth.setup": EVERYONE,
    "staff_auth.code": EVERYONE,
    "staff_auth.sign_out": EVERYONE,
    "staff_auth.language": EVERYONE,
    "staff_home.index": STAFF,
    "staff_review.queue": {Role.reviewer},
    "staff_review.editor": {Role.reviewer},
    "staff_review.audio": {Role.reviewer},
    "staff_review.save": {Role.reviewer},
    "staff_review.approve": {Role.reviewer},
    "staff_review.mark": {Role.reviewer},
    "staff_review.unmark": {Role.reviewer},
    "staff_review.widen": {Role.reviewer},
    "staff_review.split": {Role.reviewer},
    "staff_review.merge": {Role.reviewer},
    "staff_admin.accounts_page": {Role.admin},
    "staff_admin.create": {Role.admin},
    "staff_admin.roles": {Role.admin},
    "staff_admin.disabled": {Role.admin},
    "staff_admin.reset": {Role.admin},
    "staff_admin.confirm_grant": {Role.admin},
    "staff_admin.cancel_grant": {Role.admin},
    "staff_translate.queue": {Role.translator},
    "staff_translate.workbench": {Role.translator},
    "staff_translate.save": {Role.translator},
    "staff_translate.accept_draft": {Role.translator},
    "staff_translate.approve": {Role.translator},
    "staff_translate.mark": {Role.translator},
    "staff_translate.unmark": {Role.translator},
    "staff_index.queue": {Role.indexer},
    "staff_index.record": {Role.indexer},
    "staff_index.audio": {Role.indexer},
    "staff_index.add": {Role.indexer},
    "staff_index.edit": {Role.indexer},
    "staff_index.approve": {Role.indexer},
    "staff_index.delete": {Role.indexer},
    "staff_search.results": {Role.indexer, Role.translator},
    "staff_glossary.terms": {Role.admin},
    "staff_glossary.add": {Role.admin},
    "staff_glossary.remove": {Role.admin},
    "staff_glossary.import_csv": {Role.admin},
    "staff_glossary.export": {Role.admin},
    "staff_custodian.index": {Role.custodian},
    "staff_custodian.reveal": {Role.custodian},
    "staff_custodian.release": {Role.custodian},
    "staff_admin.retention_page": {Role.admin},
    "staff_admin.retention_save": {Role.admin},
    "staff_access.records": {Role.archivist},
    "staff_access.disguise": {Role.archivist},
    "staff_export.index": {Role.archivist},
    "staff_export.start": {Role.archivist},
    "staff_export.progress": {Role.archivist},
    "staff_export.download": {Role.archivist},
    # The record page shows content: those whose work is the record's content.
    "staff_records.record": {Role.reviewer, Role.translator, Role.archivist},
    "staff_records.preview_audio": {Role.reviewer, Role.translator, Role.archivist},
    "staff_records.ask": {Role.reviewer, Role.translator, Role.archivist},
    # The entity register: the indexer's.
    "staff_entities.register": {Role.indexer},
    "staff_entities.create": {Role.indexer},
    "staff_entities.merge": {Role.indexer},
    "staff_entities.from_glossary": {Role.indexer},
    "staff_entities.entity": {Role.indexer},
    "staff_entities.edit": {Role.indexer},
    "staff_entities.cite": {Role.indexer},
    "staff_entities.uncite": {Role.indexer},
}


def _url(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule)


def _denied(who: str | Role, url: str, response_status: int, location: str | None) -> bool:
    # The guard's answers, exactly: a redirect to sign-in that comes back to this very URL for
    # an anonymous visitor (never a bare 403, which would leave them nowhere), and 403 for a
    # signed-in person without the role. A page's own redirect to sign-in carries no `next`.
    if who == ANON:
        assert response_status != 403, url
        if response_status != 302:
            return False
        where = urlsplit(location or "")
        return where.path == "/staff/sign-in" and parse_qs(where.query) == {"next": [url]}
    return response_status == 403


def test_public_app_has_no_staff_route_and_every_route_has_a_rule(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        assert not rule.rule.startswith("/staff"), rule.rule
        assert access.rule_for(app, rule.endpoint) == access.ANYONE, rule.endpoint
    client = app.test_client()
    assert client.get("/staff/sign-in").status_code == 404
    assert client.get("/staff/review/").status_code == 404


def test_every_staff_route_allows_exactly_the_expected_roles(app: Flask, staff_app: Flask) -> None:
    pseudonym = transcribed_testimony(app, ["one two three"])
    people = {role: ready_account(staff_app, f"{role.value}@example.org", [role]) for role in Role}
    target = ready_account(staff_app, "target@example.org", [Role.translator])
    from tests.staff_support import segments_of

    values = {
        "pseudonym": pseudonym,
        "segment_id": str(segments_of(staff_app, pseudonym)[0].id),
        "position": "1",
        "mark_id": "1",
        "account_id": str(target.id),
        "code": "en",
        "filename": "style.css",
        "term_id": "1",
        "point_id": "1",
        "run_id": "1",
        "grant_id": "1",
        "entity_id": "1",
        "citation_id": "1",
    }
    rules = sorted(
        staff_app.url_map.iter_rules(), key=lambda r: r.endpoint == "staff_auth.sign_out"
    )
    assert {r.endpoint for r in rules} == set(EXPECTED), "a route without an expected rule"
    for rule in rules:
        assert rule.rule.startswith("/staff/"), rule.rule
        assert access.rule_for(staff_app, rule.endpoint) is not None, rule.endpoint

    allowed: dict[str, set[str | Role]] = {r.endpoint: set() for r in rules}
    for who in [ANON, *Role]:
        client: FlaskClient = staff_client(staff_app)
        if who != ANON:
            sign_in(client, people[who], step_offset=0)  # type: ignore[index]
        token = csrf_token(client, "/staff/sign-in") if who == ANON else None
        for rule in rules:
            url = _url(rule.rule, values)
            if "POST" in (rule.methods or ()):
                if token is None:
                    token = _any_token(client)
                response = client.post(url, data={"csrf_token": token})
            else:
                response = client.get(url)
            assert response.status_code != 400 or "POST" in (rule.methods or ()), url
            if not _denied(who, url, response.status_code, response.location):
                allowed[rule.endpoint].add(who)
            response.close()
    assert allowed == EXPECTED


def _any_token(client: FlaskClient) -> str:
    # Any signed-in page carries the sign-out form and so a token of this session.
    return csrf_token(client, "/staff/")


def test_a_rule_allows_exactly_the_holders_it_names() -> None:
    # Not signed in (None) is never a holder of a signed-in rule, whatever the rule's roles.
    assert access.ANYONE.allows(None) and access.ANYONE.allows(frozenset())
    assert not access.SIGNED_IN.allows(None)
    assert access.SIGNED_IN.allows(frozenset())
    rule = access.roles(Role.reviewer, Role.translator)
    assert not rule.allows(None)
    assert not rule.allows(frozenset())
    assert not rule.allows(frozenset({Role.archivist, Role.admin}))
    assert rule.allows(frozenset({Role.translator, Role.admin}))
    assert rule.describe() == "reviewer, translator"
    assert access.ANYONE.describe() == "anyone"
    assert access.SIGNED_IN.describe() == "any signed-in staff"
