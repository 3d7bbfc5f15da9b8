"""The rights and usage statements that travel with a record, derived from its consent alone.

Written in English, the language archives catalogue in; the consent wording the submitter saw
(in their language) is kept by version with the record, and named here so a reader can find it.
"""

from __future__ import annotations

from intake.export.record import ConsentTerms, ExportRecord


def rights_statement(consent: ConsentTerms) -> str:
    """What the submitter allowed, in one paragraph for `dc:rights` and OHMS `rights`."""
    if consent.publish_named:
        scope = "may be published with the speaker's name"
    elif consent.publish_anonymised:
        scope = "may be published only in this anonymised form"
    else:
        scope = "may not be published"
    parts = [f"This testimony {scope}."]
    if not consent.translate:
        parts.append("The speaker did not consent to translation.")
    if consent.embargo_until is not None:
        parts.append(f"Embargoed until {consent.embargo_until.isoformat()}.")
    if consent.wording_version:
        parts.append(f"Consent wording version {consent.wording_version}.")
    parts.append("Copyright is held by the speaker.")
    return " ".join(parts)


def usage_statement(consent: ConsentTerms) -> str:
    """How the material may be used, for OHMS `usage`."""
    if consent.publish_named or consent.publish_anonymised:
        use = "for research, education and publication"
    else:
        use = "for research within the archive only"
    return (
        f"Use {use}, with credit to the archive and the pseudonym. Do not attempt to identify "
        "the speaker or any person whose name was removed."
    )


def record_rights(record: ExportRecord) -> str:
    """The record's own rights statement when one was given, else the one from its consent."""
    return record.rights or rights_statement(record.consent)
