"""Search across approved transcripts and translations: HTTP only.

`intake.review.search_index` finds and checks the segments; this page shows them, each with a
link to its moment on the record's index page. Open to the roles that read transcripts
(`search_index.SEARCH_ROLES`); each sees hits only in the records its own queue rule opens,
and showing a record's text writes that account's first-open event (`record_access.open_for`)
before the page is sent, as every content route does.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from intake import access
from intake.config import Config
from intake.models import Role
from intake.records import record_access
from intake.review import search_index
from intake.services import request_session, services

INDEX_ENDPOINT = "staff_index.record"


def moment_url(pseudonym: str, seconds: float, roles: frozenset[Role]) -> str:
    """The link to a moment of a record: on the index page for an indexer (the player starts
    there), else on the translator's page, the other page a hit's record opens on."""
    if Role.indexer in roles:
        return url_for(INDEX_ENDPOINT, pseudonym=pseudonym, t=int(seconds))
    return url_for("staff_translate.workbench", pseudonym=pseudonym)


def search_message(reason: str) -> str:
    """The sentence for a query that cannot be searched."""
    return {
        "empty": _("Type a word to search for."),
        "short": _("A part of a word needs at least three letters."),
    }.get(reason, _("This search could not be done."))


def may_search(held: frozenset[Role] | None) -> bool:
    """Whether the search box is offered to someone holding `held`."""
    return bool(held and held & set(search_index.SEARCH_ROLES))


def _record_opens(roles: frozenset[Role], hits: list[search_index.Hit]) -> None:
    """Write each shown record's first-open event for this account, under the first of its
    roles that opens the record (the search only returns records one of them opens)."""
    db = request_session()
    for pseudonym in dict.fromkeys(h.pseudonym for h in hits):
        for role in search_index.SEARCH_ROLES:
            if role in roles and record_access.open_for(
                db, current_user.account.id, role, pseudonym
            ):
                break
    db.commit()


def _number(name: str) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else 0


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The search blueprint, for the roles that read transcripts."""
    bp = access.guard(
        Blueprint("staff_search", __name__),
        access.roles(*search_index.SEARCH_ROLES),
        current_roles,
    )

    @bp.app_context_processor
    def _search_box() -> dict[str, object]:
        return {"search_box": may_search(current_roles())}

    @bp.get("/search")
    def results() -> str:
        text = request.args.get("q", "").strip()[:200]
        partial = request.args.get("part") == "1"
        after, page = _number("after"), max(1, _number("page"))
        found, error = None, None
        if text:
            roles = current_roles() or frozenset()
            try:
                query = search_index.parse(text, partial)
            except search_index.SearchError as exc:
                error = search_message(exc.reason)
            else:
                db = request_session()
                found = search_index.search(db, services().keyring, roles, query, after)
                _record_opens(roles, found.hits)
        return render_template(
            "staff/search/results.html",
            q=text,
            partial=partial,
            page=page,
            found=found,
            error=error,
            moment_url=lambda pseudonym, seconds: moment_url(
                pseudonym, seconds, current_roles() or frozenset()
            ),
        )

    return bp
