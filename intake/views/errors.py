"""Error pages in the visitor's language. None of them echoes the request back."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def register(app: Flask) -> None:
    """Install the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(_exc: CSRFError) -> tuple[str, int]:
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
