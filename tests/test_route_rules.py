"""Every route of both apps carries the security headers and refuses a POST without its CSRF
token: the rules are set once where the app is made, and this walks the route maps so that a
route added later cannot escape them."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import Rule

from intake import create_app
from intake.config import Config


def _url(rule: Rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]  # noqa: SLF001 - werkzeug keeps them only here
        values[name] = 1 if type(converter).__name__ in {"IntegerConverter"} else "x"
    return rule.build(values)[1]  # type: ignore[index]


@pytest.fixture(params=["public", "staff"])
def each_app(request: pytest.FixtureRequest, migrated: Config) -> Flask:
    app = create_app(migrated, request.param)
    request.addfinalizer(app.extensions["testimony"].db.dispose)
    return app


def test_every_route_sends_the_security_headers(each_app: Flask) -> None:
    client = each_app.test_client()
    seen = 0
    for rule in each_app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        response = client.get(_url(rule))
        headers = response.headers
        assert "default-src 'none'" in headers.get("Content-Security-Policy", ""), rule.rule
        assert headers.get("X-Content-Type-Options") == "nosniff", rule.rule
        assert headers.get("Referrer-Policy") == "no-referrer", rule.rule
        assert headers.get("X-Frame-Options") == "DENY", rule.rule
        if rule.endpoint != "static":
            assert headers.get("Cache-Control") == "no-store", rule.rule
        response.close()
        seen += 1
    assert seen >= 3


def test_every_post_route_refuses_a_missing_csrf_token(each_app: Flask) -> None:
    client = each_app.test_client()
    posts = [r for r in each_app.url_map.iter_rules() if "POST" in (r.methods or set())]
    assert posts
    for rule in posts:
        response = client.post(_url(rule), data={"anything": "x"})
        assert response.status_code == 400, rule.rule
        assert response.headers.get("Cache-Control") == "no-store", rule.rule
