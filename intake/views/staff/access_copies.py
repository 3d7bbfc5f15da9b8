"""Access copies for archivists: which records have a redacted copy, and the voice disguise
chosen per record. Archivists only; the copies themselves are made by a worker job.

The page shows pseudonyms, states, hashes and counts, and each record's redaction proof (levels
and verdicts per marked span), never testimony text.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from intake import access
from intake.config import Config
from intake.export import policy
from intake.export.gather import consent_terms
from intake.models import AccessCopy, Role, Testimony, TestimonyState
from intake.records import accounts
from intake.review import access_copies, redaction_proof
from intake.services import request_session


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The access-copy blueprint."""
    bp = access.guard(
        Blueprint("staff_access", __name__), access.roles(Role.archivist), current_roles
    )

    @bp.get("/access-copies")
    def records() -> str:
        db = request_session()
        rows = db.scalars(
            select(Testimony)
            .where(Testimony.state.not_in([TestimonyState.withdrawn, TestimonyState.received]))
            .order_by(Testimony.created_at.desc())
        ).all()
        copies: dict[int, list[AccessCopy]] = {}
        for copy in db.scalars(select(AccessCopy).order_by(AccessCopy.audio_file_id)):
            copies.setdefault(copy.testimony_id, []).append(copy)
        # What each record's consent asks of its published audio: the publication policy says.
        rules = {t.id: policy.audio_rule(consent_terms(t)) for t in rows}
        proofs = {t.id: redaction_proof.proof_for(db, t.id) for t in rows if t.id in copies}
        return render_template(
            "staff/access/records.html",
            records=rows,
            copies=copies,
            rules=rules,
            proofs=proofs,
        )

    @bp.post("/access-copies/<pseudonym>/disguise")
    def disguise(pseudonym: str) -> WerkzeugResponse:
        db = request_session()
        testimony = db.scalar(select(Testimony).where(Testimony.pseudonym == pseudonym))
        if testimony is None or testimony.wrapped_key is None:
            abort(404)
        by = accounts.actor(current_user.account)
        access_copies.set_voice_disguise(db, testimony, request.form.get("disguise") == "1", by)
        db.commit()
        return redirect(url_for("staff_access.records") + f"#record-{pseudonym}", 303)

    return bp
