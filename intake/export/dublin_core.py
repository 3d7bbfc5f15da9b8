"""Simple Dublin Core (`oai_dc:dc`), the record as repositories and OAI-PMH harvesters read it.

`oai_dc.xsd` imports the element declarations from the Dublin Core site by URL; validation maps
that URL to the copy bundled under `schemas/`, so it never reaches the network.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML here, never parse input
from functools import cache
from importlib import resources
from typing import Any

from intake.export.record import LANGUAGE_NAMES, ExportError, ExportRecord
from intake.export.rights import record_rights
from intake.export.text import clean

#: The speaker is the creator of a testimony, and the access copy never names them.
ANONYMOUS = "anonymous"

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SIMPLEDC_URL = "http://dublincore.org/schemas/xmls/simpledc20021212.xsd"


def default_description(record: ExportRecord) -> str:
    """A description that names only what the record is, never who spoke."""
    names = " and ".join(LANGUAGE_NAMES[code] for code in record.languages)
    return (
        f"Recorded testimony {record.pseudonym}, in {LANGUAGE_NAMES[record.language]}, "
        f"with a reviewed transcript ({names}). Names and details the speaker asked to be "
        "removed are redacted."
    )


def relations(record: ExportRecord, stems: dict[str, str] | None = None) -> list[str]:
    """`dc:relation` values tying the record to its texts, and the translation to the
    transcript it translates, by their paths in the bag (`stems`: kind to path without
    extension, as `bag` names them)."""
    p = record.pseudonym
    found = stems or {}
    out = []
    if record.transcript is not None:
        transcript = found.get("transcript", f"transcript/{p}.{record.transcript.language}")
        out.append(f"hasPart: data/{transcript}.txt (transcript, {record.transcript.language})")
        if record.translation is not None:
            translation = found.get(
                "translation", f"translation/{p}.{record.translation.language}"
            )
            out.append(
                f"hasPart: data/{translation}.txt (translation, {record.translation.language}); "
                f"isTranslationOf: data/{transcript}.txt"
            )
    return out


def dublin_core_xml(
    record: ExportRecord,
    publisher: str = "",
    creator: str = ANONYMOUS,
    stems: dict[str, str] | None = None,
) -> bytes:
    """The `oai_dc:dc` document of one record, as UTF-8 bytes, the same for the same record.

    The creator is the speaker, `anonymous` in an access copy (an archive that publishes with
    the name writes its own record); the publisher is the archive that exports it."""
    ET.register_namespace("oai_dc", OAI_DC)
    ET.register_namespace("dc", DC)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(
        f"{{{OAI_DC}}}dc",
        {f"{{{XSI}}}schemaLocation": f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd"},
    )
    values: list[tuple[str, str]] = [
        ("title", f"Testimony {record.pseudonym}"),
        ("creator", creator or ANONYMOUS),
        ("identifier", record.pseudonym),
        ("date", record.received_at.date().isoformat()),
        ("type", "Sound"),
        ("format", record.audio_media_type),
    ]
    values += [("language", code) for code in record.languages]
    values += [
        ("description", record.description or default_description(record)),
        ("rights", record_rights(record)),
    ]
    if publisher:
        values.append(("publisher", publisher))
    values += [("relation", text) for text in relations(record, stems)]
    for name, text in values:
        ET.SubElement(root, f"{{{DC}}}{name}").text = clean(text)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@cache
def _schema() -> Any:
    import xmlschema

    folder = resources.files("intake.export") / "schemas"
    with (
        resources.as_file(folder / "oai_dc.xsd") as oai_dc,
        resources.as_file(folder / "simpledc20021212.xsd") as simpledc,
    ):
        # `xml.xsd`, which simpledc imports for xml:lang, ships with xmlschema itself.
        return xmlschema.XMLSchema(
            str(oai_dc), uri_mapper={SIMPLEDC_URL: simpledc.as_uri()}, allow="local"
        )


def validate_dublin_core(document: bytes) -> None:
    """Raise `ExportError` unless `document` is valid `oai_dc` against the bundled schemas."""
    try:
        errors = list(_schema().iter_errors(document.decode("utf-8")))
    except (ValueError, SyntaxError) as exc:  # not even well-formed (ParseError, bad UTF-8)
        raise ExportError(f"Dublin Core XML is not well-formed: {exc}") from exc
    if errors:
        raise ExportError(f"Dublin Core XML does not validate: {errors[0].reason}")
