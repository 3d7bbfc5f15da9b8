"""The glossary's admin pages: list, add, remove, import a CSV, export it. Admins only.

HTTP only: each view calls `intake.review.glossary`. An import with any bad row imports nothing and
lists every bad row with its line number and reason.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from intake import access
from intake.config import Config
from intake.models import GlossaryCategory, Role
from intake.records import accounts
from intake.review import glossary
from intake.services import request_session


def glossary_message(reason: str) -> str:
    """The admin's sentence for a refused term or row."""
    return {
        "empty_fa": _("The Persian term is missing."),
        "empty_en": _("The English term is missing."),
        "no_letters": _("A term needs letters or digits."),
        "too_long": _("A term or note is too long."),
        "category": _("The category must be prison, place, organisation or date."),
        "duplicate": _("This Persian term is in the glossary already."),
        "columns": _("A row needs three or four columns: term_fa, term_en, category, note."),
        "header": _("The first line must be the header: term_fa,term_en,category,note."),
        "encoding": _("The file is not UTF-8 text."),
        "too_big": _("The file is too large."),
        "too_many": _("The file has too many rows."),
        "not_found": _("This term does not exist."),
    }.get(reason, _("This could not be done."))


def category_label(category: str) -> str:
    """A category's name in the interface's language."""
    return {
        "prison": _("prison"),
        "place": _("place"),
        "organisation": _("organisation"),
        "date": _("date"),
    }.get(category, category)


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The glossary blueprint, for admins."""
    bp = access.guard(
        Blueprint("staff_glossary", __name__), access.roles(Role.admin), current_roles
    )

    def _list(
        error: str | None = None,
        problems: list[glossary.Problem] | None = None,
        message: str | None = None,
        status: int = 200,
    ) -> tuple[str, int]:
        page = render_template(
            "staff/glossary/terms.html",
            terms=glossary.entries(request_session()),
            categories=list(GlossaryCategory),
            category_label=category_label,
            reason=glossary_message,
            error=error,
            problems=problems or [],
            message=message,
            form=request.form if request.method == "POST" else {},
        )
        return page, status

    def _me() -> str:
        return accounts.actor(current_user.account)

    @bp.get("/admin/glossary")
    def terms() -> tuple[str, int]:
        done = {
            "added": _("Term added."),
            "removed": _("Term removed."),
            "imported": _("Glossary imported."),
        }
        return _list(message=done.get(request.args.get("done", "")))

    @bp.post("/admin/glossary")
    def add() -> ResponseReturnValue:
        db = request_session()
        f = request.form
        try:
            glossary.add(
                db,
                f.get("term_fa", ""),
                f.get("term_en", ""),
                f.get("category", ""),
                f.get("note", ""),
                _me(),
            )
        except glossary.GlossaryError as exc:
            db.rollback()
            return _list(error=glossary_message(exc.reason), status=400)
        db.commit()
        return redirect(url_for("staff_glossary.terms", done="added"), 303)

    @bp.post("/admin/glossary/<int:term_id>/remove")
    def remove(term_id: int) -> ResponseReturnValue:
        db = request_session()
        try:
            glossary.remove(db, term_id, _me())
        except glossary.GlossaryError:
            db.rollback()
            abort(404)
        db.commit()
        return redirect(url_for("staff_glossary.terms", done="removed"), 303)

    @bp.post("/admin/glossary/import")
    def import_csv() -> ResponseReturnValue:
        db = request_session()
        upload = request.files.get("file")
        if upload is None:
            return _list(error=_("Choose a CSV file to import."), status=400)
        try:
            result = glossary.import_csv(db, upload.read(glossary.MAX_IMPORT_BYTES + 1), _me())
        except glossary.ImportRefused as refused:
            db.rollback()
            return _list(
                error=_("Nothing was imported: correct these rows and import the file again."),
                problems=refused.problems,
                status=400,
            )
        db.commit()
        return redirect(
            url_for("staff_glossary.terms", done="imported", added=result.added), 303
        )

    @bp.get("/admin/glossary/export.csv")
    def export() -> Response:
        body = glossary.export_csv(request_session())
        response = Response(body.encode("utf-8-sig"), mimetype="text/csv")
        response.headers["Content-Disposition"] = 'attachment; filename="glossary.csv"'
        return response

    return bp
