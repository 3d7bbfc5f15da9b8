"""The signed-in staff member as Flask-Login sees them."""

from __future__ import annotations

from flask_login import UserMixin

from intake.models import StaffAccount


class StaffUser(UserMixin):  # type: ignore[misc]
    """Wraps an account; the session names it by its session token, never by its id, so that
    a new token (at sign-in, sign-out or disabling) ends every older session."""

    def __init__(self, account: StaffAccount) -> None:
        self.account = account

    def get_id(self) -> str:
        return self.account.session_token
