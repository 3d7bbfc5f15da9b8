"""The public forms (WTForms through Flask-WTF, which adds the CSRF token to each)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from intake import i18n
from intake.models import Language
from intake.public.consent import NARROWABLE, USES, ConsentChoices

TOO_LONG = _l("This text is too long.")


class LocalDateField(StringField):
    """A date typed in the interface's calendar (Solar Hijri in Persian)."""

    data: Any

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        self.raw_text = text
        if not text:
            self.data = None
            return
        try:
            self.data = i18n.parse_date(text)
        except ValueError:
            self.data = None
            raise ValueError(_l("This date could not be read.")) from None

    def _value(self) -> str:
        return getattr(self, "raw_text", "") or ""


def _future(form: FlaskForm, field: LocalDateField) -> None:
    if field.data is not None and field.data <= date.today():
        raise ValidationError(_l("The date must be in the future."))


class SubmissionForm(FlaskForm):
    """The intake form of SPEC.md section 3."""

    language = RadioField(
        _l("Language of the testimony"),
        choices=[
            SelectChoice(Language.fa.value, _l("Persian")),
            SelectChoice(Language.en.value, _l("English")),
            SelectChoice(Language.unknown.value, _l("Not sure")),
        ],
        validators=[DataRequired(_l("Please choose the language of the testimony."))],
    )
    archive = BooleanField()
    transcribe = BooleanField()
    translate = BooleanField()
    publish_anonymised = BooleanField()
    publish_anonymised_audio = BooleanField()
    publish_named = BooleanField()
    embargo_until = LocalDateField(validators=[Optional(), _future])
    name = StringField(
        _l("Your name (optional)"), validators=[Optional(), Length(max=200, message=TOO_LONG)]
    )
    contact = StringField(
        _l("How to reach you (optional)"),
        validators=[Optional(), Length(max=300, message=TOO_LONG)],
    )
    removal_notes = TextAreaField(
        _l("Names and details to remove before publication (optional)"),
        validators=[Optional(), Length(max=5000, message=TOO_LONG)],
    )
    audio = MultipleFileField(_l("Audio files"))

    def consent_fields(self) -> list[tuple[Any, str]]:
        """The consent checkboxes with their versioned wording, in form order, except
        publication with the name, which the form shows apart with its warning."""
        return [(getattr(self, name), text) for name, text in USES if name != "publish_named"]

    def named_field(self) -> tuple[Any, str]:
        """Publication with the name and its wording."""
        return self.publish_named, dict(USES)["publish_named"]

    def validate_publish_named(self, field: BooleanField) -> None:
        # A publication "with my name" without a name would publish the voice under no name:
        # the one thing this consent is not.
        if field.data and not (self.name.data or "").strip():
            raise ValidationError(
                _l(
                    "To publish with your name, please fill in your name, "
                    "or untick publication with your name."
                )
            )

    def validate_publish_anonymised_audio(self, field: BooleanField) -> None:
        if field.data and not self.publish_anonymised.data:
            raise ValidationError(
                _l(
                    "The anonymised audio is published only with the anonymised text: "
                    "please also tick that, or untick the audio."
                )
            )

    def choices(self) -> ConsentChoices:
        """The consent given, as a value object."""
        return ConsentChoices(
            archive=bool(self.archive.data),
            transcribe=bool(self.transcribe.data),
            translate=bool(self.translate.data),
            publish_anonymised=bool(self.publish_anonymised.data),
            publish_named=bool(self.publish_named.data),
            embargo_until=self.embargo_until.data,
            publish_anonymised_audio=bool(self.publish_anonymised_audio.data),
        )


class ReceiptForm(FlaskForm):
    """Enter a receipt code."""

    code = StringField(
        _l("Receipt code"),
        validators=[DataRequired(_l("Please enter your receipt code.")), Length(max=64)],
    )


class AddAudioForm(ReceiptForm):
    """Add files to an existing testimony (the code travels with the form, never in a URL)."""

    audio = MultipleFileField(_l("Audio files"))


class WithdrawForm(ReceiptForm):
    """Withdraw consent; a second box must be ticked, because this cannot be undone."""

    confirm = BooleanField(
        _l("I understand that my recording and everything made from it will be destroyed."),
        validators=[DataRequired(_l("Please tick the box to confirm."))],
    )


class NarrowConsentForm(ReceiptForm):
    """Withdraw single uses, or move the embargo later. It offers no way to widen consent."""

    withdraw_translate = BooleanField()
    withdraw_publish_anonymised = BooleanField()
    withdraw_publish_anonymised_audio = BooleanField()
    withdraw_publish_named = BooleanField()
    embargo_until = LocalDateField(validators=[Optional(), _future])

    def withdrawn(self) -> set[str]:
        """The uses ticked for withdrawal."""
        return {name for name in NARROWABLE if getattr(self, f"withdraw_{name}").data}


class AnswerForm(ReceiptForm):
    """A written answer to one of the archive's questions (the code travels with it, as with
    every receipt form). The length is judged by `intake.records.messages`, in one place."""

    question = StringField(validators=[DataRequired()])
    answer = TextAreaField(_l("Your answer"))


class AnswerAudioForm(AddAudioForm):
    """Add recordings, optionally as the answer to one question (the same path as any added
    recording)."""

    question = StringField()
