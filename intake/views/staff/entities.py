"""The entity register's pages, for indexers: the register, an entity's page with every
citation across testimonies, and the citation form the index pages include.

HTTP only: each view calls `intake.review.entities`. A citation is added or removed only through
the record it belongs to, opened with `record_access.open_for` as an indexer (404 otherwise),
and an entity page shows a cited segment's text only where the reader may open that record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from intake import access, security
from intake.config import Config
from intake.models import EntityKind, Role, Testimony
from intake.records import accounts, record_access
from intake.review import entities, redaction_marks
from intake.services import request_session, services
from intake.views.staff import PREFIX, segment_pages

#: The role whose work the register is.
ROLE = Role.indexer


def entity_message(reason: str) -> str:
    """The indexer's sentence for a refused change."""
    return {
        "no_name": _("An entity needs a name in Persian or English."),
        "too_long": _("A name or note is too long."),
        "role": _("A person's role must be prisoner, relative, official or other."),
        "coordinates": _("Give both latitude and longitude, as numbers."),
        "date": _("The date is not a Solar Hijri year, month or day (for example: Mordad 1367)."),
        "same": _("Choose two different entities to merge."),
        "kinds": _("Only entities of the same kind can be merged."),
        "not_found": _("This entity does not exist."),
        "target": _("Choose a segment, an index point or a redaction mark of this record."),
        "time": _("The time is not a number of seconds."),
        "kind": _("Choose what the entity is."),
        "stale": _(
            "Someone changed this entity since you opened it. What is stored now is shown "
            "below; your changes are still in the form: compare them and save again."
        ),
    }.get(reason, _("This could not be done."))


def kind_label(kind: str) -> str:
    """A kind's name in the interface's language."""
    return {
        "person": _("person"),
        "prison": _("prison"),
        "place": _("place"),
        "organisation": _("organisation"),
        "date": _("date"),
    }.get(kind, kind)


def person_role_label(role: str) -> str:
    """A person's role in the interface's language."""
    return {
        "prisoner": _("prisoner"),
        "relative": _("relative"),
        "official": _("official"),
        "other": _("other role"),
    }.get(role, role)


def audio_url(pseudonym: str, position: int) -> str:
    """Where the indexer's audio of one recording plays (the index pages' audio route)."""
    return url_for("staff_index.audio", pseudonym=pseudonym, position=position)


def record_url(pseudonym: str, seconds: float | None = None) -> str:
    """The indexer's page of a record, sought to `seconds` when given."""
    if seconds is None:
        return url_for("staff_index.record", pseudonym=pseudonym)
    return url_for("staff_index.record", pseudonym=pseudonym, t=f"{seconds:.1f}")


def moment_url(citation: entities.CitationView) -> str:
    """The audio of a citation with a media fragment that plays just its moment."""
    start, end = f"{citation.start_s:.2f}", f"{citation.end_s:.2f}"
    return f"{audio_url(citation.pseudonym, citation.audio_position)}#t={start},{end}"


def _kind(value: str | None) -> EntityKind | None:
    try:
        return EntityKind(value) if value else None
    except ValueError:
        return None


def _facts(kind: EntityKind) -> entities.Facts:
    f = request.form
    return entities.facts_from_form(
        kind,
        name_fa=f.get("name_fa", ""),
        name_en=f.get("name_en", ""),
        spellings=f.get("spellings", ""),
        roles=f.getlist("roles"),
        latitude=f.get("latitude"),
        longitude=f.get("longitude"),
        date_text=f.get("date_text", ""),
        note=f.get("note", ""),
    )


@dataclass(frozen=True)
class Typed:
    """What the indexer typed in an entity's form, as typed, to give back with a refusal."""

    name_fa: str
    name_en: str
    spellings: list[str]
    roles: list[str]
    latitude: str
    longitude: str
    date_text: str
    note: str


def _typed() -> Typed:
    f = request.form
    return Typed(
        name_fa=f.get("name_fa", ""),
        name_en=f.get("name_en", ""),
        spellings=f.get("spellings", "").splitlines(),
        roles=f.getlist("roles"),
        latitude=f.get("latitude", ""),
        longitude=f.get("longitude", ""),
        date_text=f.get("date_text", ""),
        note=f.get("note", ""),
    )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except ValueError:
        abort(400)


def make_blueprint(config: Config, current_roles: access.RoleLookup) -> Blueprint:
    """The register's blueprint, for indexers."""
    bp = access.guard(Blueprint("staff_entities", __name__), access.roles(ROLE), current_roles)

    def _me() -> str:
        return accounts.actor(current_user.account)

    def _open(pseudonym: str) -> Testimony:
        # The record, if an indexer works on it now; the first open is an event, committed
        # before anything is changed or shown.
        db = request_session()
        found = record_access.open_for(db, current_user.account.id, ROLE, pseudonym)
        if found is None:
            abort(404)
        db.commit()
        return found

    def _may_read(testimony: Testimony) -> bool:
        # The reader's own right to the record's text, by the same rule as its queue; opening
        # it writes the first-open event like any content route.
        held = current_roles() or frozenset()
        return any(
            record_access.open_for(
                request_session(), current_user.account.id, role, testimony.pseudonym
            )
            is not None
            for role in held
            if role in record_access.WORK
        )

    def _back(default: str) -> ResponseReturnValue:
        target = security.local_path(request.form.get("next"), f"{PREFIX}/")
        return redirect(target or default, 303)

    def _register_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
        svc = services()
        kind = _kind(request.args.get("kind"))
        query = request.args.get("q", "")
        db = request_session()
        page = render_template(
            "staff/entities/register.html",
            found=entities.register(db, svc.keyring, kind, query),
            everything=entities.register(db, svc.keyring),
            kinds=list(EntityKind),
            kind=kind,
            query=query,
            roles=entities.PERSON_ROLES,
            kind_label=kind_label,
            role_label=person_role_label,
            error=error,
            form=request.form if request.method == "POST" else {},
            done=request.args.get("done"),
            made=request.args.get("made"),
        )
        return page, status

    @bp.get("/entities/")
    def register() -> tuple[str, int]:
        return _register_page()

    @bp.post("/entities/")
    def create() -> ResponseReturnValue:
        db = request_session()
        kind = _kind(request.form.get("kind"))
        try:
            if kind is None:
                raise entities.EntityError("kind")
            made = entities.create(db, services().keyring, kind, _facts(kind), _me())
        except entities.EntityError as exc:
            db.rollback()
            return _register_page(entity_message(exc.reason), 400)
        db.commit()
        return redirect(url_for("staff_entities.entity", entity_id=made.id), 303)

    @bp.post("/entities/merge")
    def merge() -> ResponseReturnValue:
        db = request_session()
        keep, other = _int(request.form.get("keep")), _int(request.form.get("other"))
        try:
            if keep is None or other is None:
                raise entities.EntityError("same")
            kept = entities.merge(db, services().keyring, keep, other, _me())
        except entities.EntityError as exc:
            db.rollback()
            return _register_page(entity_message(exc.reason), 400)
        db.commit()
        return redirect(url_for("staff_entities.entity", entity_id=kept.id, done="merged"), 303)

    @bp.post("/entities/from-glossary")
    def from_glossary() -> ResponseReturnValue:
        db = request_session()
        made = entities.from_glossary_all(db, services().keyring, _me())
        db.commit()
        return redirect(url_for("staff_entities.register", done="glossary", made=made), 303)

    @bp.get("/entities/<int:entity_id>")
    def entity(entity_id: int) -> str:
        db = request_session()
        svc = services()
        try:
            row = entities.get(db, entity_id)
        except entities.EntityError:
            abort(404)
        view = entities.read(svc.keyring, row)
        cited = entities.citations(db, svc.keyring, row.id, _may_read)
        db.commit()  # the first-open events of the records whose text is shown
        return render_template(
            "staff/entities/entity.html",
            e=view,
            citations=cited,
            moment_url=moment_url,
            record_url=record_url,
            kind_label=kind_label,
            role_label=person_role_label,
            roles=entities.PERSON_ROLES,
            survivor=entities.resolve(db, row.id).id if row.merged_into_id else None,
            done=request.args.get("done"),
            error=None,
            typed=None,
        )

    @bp.post("/entities/<int:entity_id>/edit")
    def edit(entity_id: int) -> ResponseReturnValue:
        db = request_session()
        version = segment_pages.form_number("version")
        try:
            row = entities.get(db, entity_id)
            entities.edit(db, services().keyring, row.id, _facts(row.kind), _me(), version=version)
        except entities.EntityError as exc:
            db.rollback()
            if exc.reason == "not_found":
                abort(404)
            # What is stored now above, what the indexer typed in the form: nothing typed is
            # lost, and a stale edit is saved again from the version shown.
            return render_template(
                "staff/entities/entity.html",
                e=entities.read(services().keyring, entities.get(db, entity_id)),
                citations=[],
                moment_url=moment_url,
                record_url=record_url,
                kind_label=kind_label,
                role_label=person_role_label,
                roles=entities.PERSON_ROLES,
                survivor=None,
                done=None,
                error=entity_message(exc.reason),
                typed=_typed(),
            ), 409 if exc.reason == "stale" else 400
        db.commit()
        return redirect(url_for("staff_entities.entity", entity_id=entity_id, done="saved"), 303)

    @bp.post("/entities/cite")
    def cite() -> ResponseReturnValue:
        testimony = _open(request.form.get("pseudonym", ""))
        db = request_session()
        f = request.form
        where: dict[str, Any] = {
            "segment_id": _int(f.get("segment_id")),
            "index_point_id": _int(f.get("index_point_id")),
            "redaction_mark_id": _int(f.get("redaction_mark_id")),
        }
        try:
            where_s = {**where, "start_s": entities.seconds(f.get("start_s"))}
            entity_id = _int(f.get("entity_id"))
            if entity_id is not None:
                entities.cite(db, testimony, entity_id, _me(), **where_s)
            else:
                kind = _kind(f.get("kind"))
                if kind is None:
                    raise entities.EntityError("kind")
                facts = entities.facts_from_form(
                    kind, name_fa=f.get("name_fa", ""), name_en=f.get("name_en", "")
                )
                entities.cite_new(db, services().keyring, testimony, kind, facts, _me(), **where_s)
        except entities.EntityError as exc:
            db.rollback()
            if exc.reason == "not_found":
                abort(404)
            return entity_message(exc.reason), 400
        db.commit()
        return _back(url_for("staff_entities.register"))

    @bp.post("/entities/citations/<int:citation_id>/remove")
    def uncite(citation_id: int) -> ResponseReturnValue:
        db = request_session()
        try:
            found = entities.citation(db, citation_id)
        except entities.EntityError:
            abort(404)
        testimony = db.get(Testimony, found.testimony_id)
        entity_id = found.entity_id
        _open(testimony.pseudonym if testimony is not None else "")
        entities.uncite(db, citation_id, _me())
        db.commit()
        return _back(url_for("staff_entities.entity", entity_id=entity_id))

    @bp.app_template_global()
    def citations_at(
        pseudonym: str, segment_id: int | None = None, index_point_id: int | None = None
    ) -> list[entities.Cited]:
        """The entities cited at a segment or index point of a record, for the citation form
        (empty for anyone but an indexer: the form is the indexer's)."""
        held = current_roles() or frozenset()
        if ROLE not in held:
            return []
        db = request_session()
        testimony = db.query(Testimony).filter_by(pseudonym=pseudonym).one_or_none()
        if testimony is None or not record_access.may_open(ROLE, testimony):
            return []
        return entities.citations_at(
            db, services().keyring, testimony.id, segment_id, index_point_id
        )

    @bp.app_template_global()
    def entity_choices() -> list[entities.EntityView]:
        """The register's live entries, for the citation form's list (indexers only)."""
        if ROLE not in (current_roles() or frozenset()):
            return []
        # Opened once a request: an index page includes the form under every segment.
        if "entity_choices" not in g:
            g.entity_choices = entities.register(request_session(), services().keyring)
        return list(g.entity_choices)

    @bp.app_template_global()
    def marks_at(pseudonym: str, segment_id: int | None) -> list[tuple[int, str, float]]:
        """(id, category label, time) of each redaction mark in a segment, so the citation
        form can cite an entity through a marked span: the entity is linked, and the export
        leaves the name behind (`policy.entity_withheld`). Indexers only."""
        if segment_id is None or ROLE not in (current_roles() or frozenset()):
            return []
        labels = segment_pages.category_labels()
        marks = redaction_marks.of_segments(request_session(), [segment_id]).get(segment_id, [])
        return [(m.id, labels.get(str(m.category), str(m.category)), m.start_s) for m in marks]

    @bp.app_template_global()
    def entity_kinds() -> list[tuple[str, str]]:
        """(value, label) of each kind, for the citation form."""
        return [(k.value, kind_label(k.value)) for k in EntityKind]

    return bp
