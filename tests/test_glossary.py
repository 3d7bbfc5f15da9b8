"""The glossary: Persian normalisation for matching, the all-or-nothing CSV import with every
bad row reported, export that imports back, the check, and hotwords per testimony."""

from __future__ import annotations

import io
from dataclasses import replace
from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import func, select

from intake.models import GlossaryTerm, Role
from intake.review import glossary
from intake.review.normalise import contains, normalise
from tests.staff_support import ready_account, sign_in, staff_client
from tests.support import csrf_token, post_multipart
from workers.transcription import hotwords_for


def test_normalise_unifies_the_ways_persian_is_typed() -> None:
    assert normalise("زندان اوين") == normalise("زندان اوین")  # Arabic yeh
    assert normalise("كميته") == normalise("کمیته")  # Arabic kaf, Arabic yeh
    assert normalise("مدرسة") == normalise("مدرسه")  # teh marbuta
    assert normalise("۶۷") == normalise("٦٧") == "67"  # Persian and Arabic-Indic digits
    assert normalise("مُجاهِدین") == normalise("مجاهدین")  # diacritics
    assert contains("زندان‌های اوین", "زندان")  # a ZWNJ suffix is a word boundary
    assert contains("in EVIN Prison.", "Evin Prison")
    assert not contains("Evinson", "Evin")  # whole words only


def test_csv_import_reports_every_bad_row_and_imports_nothing(app: Flask) -> None:
    bad = (
        "term_fa,term_en,category,note\n"
        "زندان اوین,Evin Prison,prison,\n"
        ",Gohardasht,prison,\n"  # line 3: no Persian
        "گوهردشت,Gohardasht Prison,jail,\n"  # line 4: unknown category
        "زندان اوين,Evin,prison,\n"  # line 5: the same term as line 2, typed with Arabic yeh
        "only one column\n"  # line 6
    ).encode()
    svc = app.extensions["testimony"]
    with svc.db.session() as s, pytest.raises(glossary.ImportRefused) as refused:
        glossary.import_csv(s, bad, "account:1")
    assert [(p.line, p.reason) for p in refused.value.problems] == [
        (3, "empty_fa"),
        (4, "category"),
        (5, "duplicate"),
        (6, "columns"),
    ]
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(GlossaryTerm)) == 0
    with svc.db.session() as s, pytest.raises(glossary.ImportRefused) as latin1:
        glossary.import_csv(s, "term_fa,term_en,category\nx,é,place\n".encode("latin-1"), "a:1")
    assert latin1.value.problems[0].reason == "encoding"


def test_export_imports_back_and_import_updates(app: Flask) -> None:
    svc = app.extensions["testimony"]
    good = (
        "\ufeffterm_fa,term_en,category,note\n"
        'زندان اوین,Evin Prison,prison,"Tehran, north"\n'
        "۱۳۶۷,1988,date,\n"
    ).encode()
    with svc.db.session() as s:
        result = glossary.import_csv(s, good, "account:1")
        assert (result.added, result.updated) == (2, 0)
        exported = glossary.export_csv(s)
    with svc.db.session() as s:
        again = glossary.import_csv(s, exported.encode(), "account:1")
        assert (again.added, again.updated) == (0, 0)
        changed = glossary.import_csv(
            s, "term_fa,term_en,category\nزندان اوين,Evin prison,prison\n".encode(), "account:1"
        )
        assert (changed.added, changed.updated) == (0, 1)
        entries = glossary.entries(s)
    found = glossary.found_in("در زندانِ اوین در سال ۱۳۶۷", "fa", entries)
    assert {e.en for e in found} == {"Evin prison", "1988"}
    missing = glossary.missing_in("In Evin Prison in 1987", "en", found)
    assert [e.en for e in missing] == ["1988"]


def test_admin_imports_a_bad_file_and_sees_each_line(app: Flask, staff_app: Flask) -> None:
    admin = ready_account(staff_app, "admin@example.org", [Role.admin])
    client = staff_client(staff_app)
    sign_in(client, admin)
    token = csrf_token(client, "/staff/admin/glossary")
    data = "term_fa,term_en,category\n<b>اوین</b>,Evin,prison\nگوهردشت,,prison\n".encode()
    response = post_multipart(
        client,
        "/staff/admin/glossary/import",
        {"csrf_token": token, "file": (io.BytesIO(data), "g.csv")},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Line 3:" in html and "The English term is missing." in html
    assert "Nothing was imported" in html
    ok = "term_fa,term_en,category\n<b>اوین</b>,Evin,prison\n".encode()
    response = post_multipart(
        client,
        "/staff/admin/glossary/import",
        {"csrf_token": token, "file": (io.BytesIO(ok), "g.csv")},
    )
    assert response.status_code == 303
    html = client.get("/staff/admin/glossary").get_data(as_text=True)
    assert "&lt;b&gt;اوین&lt;/b&gt;" in html
    exported = client.get("/staff/admin/glossary/export.csv")
    assert exported.mimetype == "text/csv" and "Evin" in exported.get_data(as_text=True)


def test_glossary_terms_become_hotwords_when_switched_on(app: Flask) -> None:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        glossary.add(s, "زندان اوین", "Evin Prison", "prison", "", "account:1")
        assert hotwords_for(svc, s, "fa") == ""  # off by default
        on = SimpleNamespace(config=replace(svc.config, whisper_glossary_hotwords=True))
        assert hotwords_for(on, s, "fa") == "زندان اوین"  # type: ignore[arg-type]
        assert hotwords_for(on, s, "en") == "Evin Prison"  # type: ignore[arg-type]


# Texts and terms where matching has edges: letter variants, half-spaces, diacritics, digits,
# whole words, terms inside terms, two terms overlapping, the same English form twice.
_TERMS = [
    ("زندان اوین", "Evin Prison", "prison"),
    ("اوین", "Evin", "place"),
    ("کمیته مشترک", "Joint Committee", "organisation"),
    ("گوهردشت", "Gohardasht Prison", "prison"),
    ("رجایی‌شهر", "Gohardasht Prison (Rajaei Shahr)", "prison"),
    ("۱۳۶۷", "1988", "date"),
    ("مجاهدین", "Mojahedin", "organisation"),
    ("قزل‌حصار", "Ghezel Hesar", "prison"),
    ("حصار", "Hesar", "place"),
    ("اوین شمالی", "North Evin", "place"),
]
_TEXTS = [
    "در زندانِ اوين در سال ٦٧",
    "زندان‌های اوین و گوهردشت",
    "اوینی نبود",  # not a whole word
    "کميته   مشترک\nضد خرابکاری",
    "رجایی شهر و رجاییشهر و رجایی‌شهر",
    "مُجاهِدین خلق در قزلحصار و قزل حصار",
    "In EVIN prison, Evin Prison's yard; Evinson; 1988-1989; North Evin",
    "Gohardasht Prison (Rajaei Shahr) and the Joint Committee",
    "",
    "اوین شمالی اوین",
    "اوین‌ها و قزل‌حصار",  # a half-space is also a word boundary
]


def test_the_automaton_matches_as_the_term_by_term_check_did(app: Flask) -> None:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        for fa, en, category in _TERMS:
            glossary.add(s, fa, en, category, "", "account:1")
        glossary.add(s, "اوین دیگر", "Evin", "place", "", "account:1")  # an English form twice
        matcher = glossary.matcher(s)
    assert len(matcher.entries) == len(_TERMS) + 1
    for text in _TEXTS:
        for language in ("fa", "en"):
            expected = [e for e in matcher.entries if contains(text, e.term(language))]
            assert matcher.found_in(text, language) == expected, (text, language)
            missing = [e for e in matcher.entries if not contains(text, e.term(language))]
            assert matcher.missing_in(text, language, matcher.entries) == missing, text
    # The edges the list above is there for, spelled out.
    assert {e.en for e in matcher.found_in("زندان‌های اوین و گوهردشت", "fa")} == {
        "Evin",
        "Gohardasht Prison",
    }
    assert matcher.found_in("اوینی نبود", "fa") == []
    assert {e.en for e in matcher.found_in("اوین‌ها و قزل‌حصار", "fa")} == {
        "Evin",
        "Ghezel Hesar",
        "Hesar",
    }
    assert {e.fa for e in matcher.found_in("اوین شمالی اوین", "fa")} == {"اوین", "اوین شمالی"}


def test_the_matcher_is_built_once_and_again_when_the_glossary_changes(app: Flask) -> None:
    svc = app.extensions["testimony"]
    with svc.db.session() as s:
        first = glossary.add(s, "زندان اوین", "Evin Prison", "prison", "", "account:1")
        glossary.add(s, "گوهردشت", "Gohardasht", "prison", "", "account:1")
        built = glossary.matcher(s)
        assert glossary.matcher(s) is built  # no change, no rebuild
        assert [e.en for e in built.found_in("گوهردشت", "fa")] == ["Gohardasht"]

        added = glossary.add(s, "اوین", "Evin", "place", "", "account:1")
        assert [e.en for e in glossary.matcher(s).found_in("اوین", "fa")] == ["Evin"]

        csv = "term_fa,term_en,category\nگوهردشت,Gohardasht Prison,prison\n"
        glossary.import_csv(s, csv.encode(), "account:1")
        edited = glossary.matcher(s)
        assert [e.en for e in edited.found_in("Gohardasht Prison", "en")] == ["Gohardasht Prison"]

        glossary.remove(s, added.id, "account:1")
        assert glossary.matcher(s).found_in("اوین", "fa") == []
        # A removal and an addition together still count as a change.
        glossary.remove(s, first.id, "account:1")
        glossary.add(s, "قزل‌حصار", "Ghezel Hesar", "prison", "", "account:1")
        assert [e.en for e in glossary.matcher(s).found_in("قزلحصار", "fa")] == ["Ghezel Hesar"]
