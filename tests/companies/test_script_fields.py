"""A script question names the field that holds its answer: the company's own or a standard one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.companies.validation import CompanyConfigError, validate_document
from service.companies.yaml_io import load_company_file
from tests.factories import company_document

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
NAME_AND_NUMBER = {
    "ask": "お名前とご連絡先をお伺いできますか。",
    "field": ["caller.name", "caller.phone"],
}


def _script(*steps: dict[str, Any]) -> dict[str, object]:
    return company_document(script=[{"say": "担当者が不在のため、ご用件を承ります。"}, *steps])


def test_a_question_can_lead_to_standard_memo_fields_in_the_order_asked() -> None:
    config = validate_document(
        _script(
            NAME_AND_NUMBER,
            {"ask": "御社名をお伺いできますか。", "field": "caller.company"},
            {"ask": "診察券番号をお持ちですか。", "field": "patient_no"},
            {"ask": "ご用件をお聞かせください。", "field": "body"},
        )
    )

    assert [step.field_names for step in config.script] == [
        [],
        ["caller.name", "caller.phone"],
        ["caller.company"],
        ["patient_no"],
        ["body"],
    ]
    # Written back as given: a single field stays a single key, as before.
    script = config.document()["script"]
    assert script[1]["field"] == ["caller.name", "caller.phone"]
    assert script[3]["field"] == "patient_no"


@pytest.mark.parametrize(
    ("field", "where", "reason"),
    [
        ("caller.age", "script[1].field", "is not a field key"),
        (["caller.name", "caller.name"], "script[1].field[1]", "listed twice"),
        ([], "script[1].field", "at least one field"),
        (["caller.name", "Patient"], "script[1].field[1]", "is not a field key"),
        (["caller.name", "visit_date"], "script[1].field", "not declared under `fields:`"),
    ],
)
def test_a_question_naming_no_known_field_is_refused(field: Any, where: str, reason: str) -> None:
    with pytest.raises(CompanyConfigError) as caught:
        validate_document(_script({"ask": "お名前は？", "field": field}))

    problems = {issue.field: issue.reason for issue in caught.value.issues}
    assert where in problems, problems
    assert reason in problems[where]


@pytest.mark.parametrize("path", sorted(CLIENTS.glob("*.yaml")), ids=lambda path: path.stem)
def test_each_example_company_leads_its_name_and_number_question_to_the_caller_fields(
    path: Path,
) -> None:
    config = load_company_file(path).config

    asked = [step for step in config.script if step.field_names[:1] == ["caller.name"]]
    assert len(asked) == 1, f"{path.name}: no question leads to the caller's name"
    assert asked[0].field_names == ["caller.name", "caller.phone"]
