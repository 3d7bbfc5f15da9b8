"""Persian normalisation for matching: letter variants, joiners, digits and marks compare
equal, and matches come back as offsets into the original text."""

from __future__ import annotations

from intake.review import normalise


def test_variants_of_one_name_normalise_alike() -> None:
    persian = "علی کریمی"
    assert normalise.normalise("علي كريمي") == normalise.normalise(persian)  # Arabic yeh, kaf
    assert normalise.normalise("فاطمة") == normalise.normalise("فاطمه")  # teh marbuta
    assert normalise.normalise("سال\u200cها") == normalise.normalise("سالها")  # ZWNJ
    assert normalise.normalise("مُحَمَّد") == normalise.normalise("محمد")  # harakat
    assert normalise.normalise("۱۳۵۷") == normalise.normalise("١٣٥٧") == "1357"  # digits
    assert normalise.normalise("Evin  Prison") == "evin prison"


def test_find_answers_with_offsets_into_the_original_text() -> None:
    text = "او را در زندانِ اوين دیدم، سال ۱۳۶۷."
    spans = normalise.find(text, "زندان اوین")
    assert len(spans) == 1
    start, end = spans[0]
    assert text[start:end] == "زندانِ اوين"
    (year,) = normalise.find(text, "1367")
    assert text[year[0] : year[1]] == "۱۳۶۷"
    # Whole words only: a name inside a longer word is not a match.
    assert normalise.find("Alibaba and Ali", "ali") == [(12, 15)]
    assert normalise.find("anything", "\u200c") == []


def test_terms_split_a_note_on_lines_and_both_scripts_commas() -> None:
    assert normalise.terms("علی کریمی، اوین\nTehran; x") == ["علی کریمی", "اوین", "Tehran"]
