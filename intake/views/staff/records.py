"""The record page: one record's history, files and copies, and a preview of what will leave.

HTTP only: `intake.review.record_overview` gathers what is shown, and the preview comes from the
export's own gathering, so what is played and read here is what the access bag would carry.
Open to the roles that work on a record's content (reviewers, translators, archivists); the
page names the record by its pseudonym and never shows the submitter's identity.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user

from intake import access
from intake.config import Config
from intake.models import Role, Testimony
from intake.records import record_access
from intake.review import record_overview
from intake.services import request_session, services

AUDIO_BLOCK = 256 * 1024
#: The roles that may open a record's page: those whose work is the record's content.
RECORD_ROLES = (Role.reviewer, Role.translator, Role.archivist)


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The record page's blueprint."""
    bp = access.guard(
        Blueprint("staff_records", __name__), access.roles(*RECORD_ROLES), current_roles
    )

    def _testimony(pseudonym: str) -> Testimony:
        # Open only where one of the account's roles works on the record now, by that role's
        # queue rule (state and consent, `intake.records.record_access`), as every content route;
        # 404
        # otherwise. The first open is an event, committed before anything is served.
        db = request_session()
        held = current_roles() or frozenset()
        for role in RECORD_ROLES:
            if role in held:
                found = record_access.open_for(db, current_user.account.id, role, pseudonym)
                if found is not None:
                    db.commit()
                    return found
        abort(404)

    @bp.get("/records/<pseudonym>")
    def record(pseudonym: str) -> str:
        testimony = _testimony(pseudonym)
        db = request_session()
        svc = services()
        shown = record_overview.overview(db, testimony)
        preview = (
            record_overview.preview(db, svc.keyring, svc.store, testimony)
            if testimony.wrapped_key is not None
            else None
        )
        return render_template("staff/records/record.html", o=shown, preview=preview)

    @bp.get("/records/<pseudonym>/preview-audio")
    def preview_audio(pseudonym: str) -> Response:
        """The access audio an export would carry, streamed (decrypted as it is read)."""
        testimony = _testimony(pseudonym)
        if testimony.wrapped_key is None:
            abort(404)
        svc = services()
        shown = record_overview.preview(request_session(), svc.keyring, svc.store, testimony)
        if shown.audio is None:
            abort(404)
        opener = shown.audio

        def chunks() -> Iterator[bytes]:
            with opener() as stream:
                while block := stream.read(AUDIO_BLOCK):
                    yield block

        return Response(chunks(), mimetype="audio/flac", direct_passthrough=True)

    return bp
