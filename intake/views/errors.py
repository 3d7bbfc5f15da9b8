"""Error pages in the visitor's language. None of them echoes the request back."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from intake.public.forms import ReceiptForm, SubmissionForm
from intake.storage import StoreFull

# Pages reached with a receipt code: an expired form there goes back to the code's form.
_RECEIPT_ENDPOINTS = {
    "public.receipt",
    "public.add_audio",
    "public.withdraw",
    "public.narrow_consent",
}


def register(app: Flask) -> None:
    """Install the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> tuple[str, int] | Response:
        # A form left open too long (or a session lost) must not cost the visitor what they
        # typed: the same form comes back filled in, with a fresh token, in their language.
        text = _(
            "This form had expired. What you typed is kept below: "
            "please check it and send it again."
        )
        if request.endpoint == "public.submit":
            # The form's own token still names the files it keeps: reuse it, so that they are
            # neither lost nor sent again.
            from intake.public import form_tokens
            from intake.public.spool import Spool
            from intake.services import services
            from intake.views.public import form_page

            form = SubmissionForm(formdata=request.form)
            token = form_tokens.read(request.form.get("form_token")) or form_tokens.new_token()
            kept = Spool(services().config, token).count()
            return form_page(form, token, [text], kept, 400)
        if request.endpoint in _RECEIPT_ENDPOINTS:
            typed = MultiDict({"code": request.form.get("code", "")})
            form = ReceiptForm(formdata=typed)
            return render_template("public/receipt_form.html", form=form, notice=text), 400
        text = _("This form has expired. Please go back, reload the page and try again.")
        return render_template("error.html", message=text), 400

    @app.errorhandler(413)
    def too_large(_exc: HTTPException) -> tuple[str, int]:
        # Drain nothing more: the connection is closed after this response, and the
        # encrypted spool of what did arrive is already unlinked.
        request.close()
        return render_template(
            "error.html", message=_("The upload is larger than this archive accepts.")
        ), 413

    @app.errorhandler(StoreFull)
    def store_full(_exc: StoreFull) -> tuple[str, int]:
        # Raised while the body is read (intake.public.uploads), before a byte of it was spooled.
        from intake.views.public import rejection_message

        request.close()
        return render_template("error.html", message=rejection_message("store_full")), 507

    @app.errorhandler(403)
    def forbidden(_exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", message=_("This page is not open to you.")), 403

    @app.errorhandler(404)
    def not_found(_exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", message=_("This page does not exist.")), 404

    @app.errorhandler(500)
    def server_error(_exc: Exception) -> tuple[str, int]:
        text = _("Something went wrong on our side and nothing was saved. Please try again later.")
        return render_template("error.html", message=text), 500
