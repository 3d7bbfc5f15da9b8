"""Who may open which route: one rule per blueprint, enforced and listed from the same place.

`guard(blueprint, rule)` is called where a blueprint is made. It records the rule for the app
(so `testimony routes` prints the access matrix a security reviewer reads) and attaches the
check that enforces it: anonymous visitors of a signed-in area are sent to the sign-in page,
never shown content; a signed-in account without one of the roles gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, abort, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from intake.models import Role

SIGN_IN_ENDPOINT = "staff_auth.sign_in"


@dataclass(frozen=True)
class Rule:
    """Open to anyone, to any signed-in staff member, or to holders of one of `roles`."""

    signed_in: bool
    roles: frozenset[Role] | None = None

    def allows(self, held: frozenset[Role] | None) -> bool:
        """Whether someone holding `held` (None: not signed in) may open the route."""
        if not self.signed_in:
            return True
        if held is None:
            return False
        return self.roles is None or bool(self.roles & held)

    def describe(self) -> str:
        """The rule in the words of the access matrix."""
        if not self.signed_in:
            return "anyone"
        if self.roles is None:
            return "any signed-in staff"
        return ", ".join(sorted(r.value for r in self.roles))


ANYONE = Rule(signed_in=False)
SIGNED_IN = Rule(signed_in=True)


def roles(*held: Role) -> Rule:
    """A rule for holders of any of `held`."""
    return Rule(signed_in=True, roles=frozenset(held))


# How a request's roles are found; the staff app sets this to read the signed-in account.
RoleLookup = Callable[[], "frozenset[Role] | None"]


def guard(bp: Blueprint, rule: Rule, current_roles: RoleLookup | None = None) -> Blueprint:
    """Attach `rule` to every route of `bp` and record it for the route listing."""

    def record(state: object) -> None:
        app: Flask = state.app  # type: ignore[attr-defined]
        app.extensions.setdefault("access_rules", {})[bp.name] = rule

    bp.record(record)
    if rule.signed_in:
        if current_roles is None:
            raise ValueError(f"{bp.name}: a signed-in rule needs a way to find the roles")

        @bp.before_request
        def _check() -> WerkzeugResponse | None:
            held = current_roles()
            if held is None:
                return redirect(url_for(SIGN_IN_ENDPOINT, next=request.full_path.rstrip("?")))
            if not rule.allows(held):
                abort(403)
            return None

    return bp


def rule_for(app: Flask, endpoint: str) -> Rule | None:
    """The rule that guards `endpoint`, or None when no rule covers it (a fault)."""
    rules: dict[str, Rule] = app.extensions.get("access_rules", {})
    if endpoint == "static":
        return ANYONE  # the app's own style sheet and scripts
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else ""
    return rules.get(blueprint)


def matrix(app: Flask) -> list[tuple[str, str, str, str]]:
    """(path, methods, endpoint, who) for every route of `app`, sorted by path."""
    rows = []
    for url_rule in app.url_map.iter_rules():
        methods = ",".join(sorted((url_rule.methods or set()) - {"HEAD", "OPTIONS"}))
        rule = rule_for(app, url_rule.endpoint)
        who = rule.describe() if rule else "NO RULE"
        rows.append((url_rule.rule, methods, url_rule.endpoint, who))
    return sorted(rows)
