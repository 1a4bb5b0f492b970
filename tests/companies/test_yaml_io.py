"""Company files: every refusal names the file, line and reason; export reads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.companies.validation import validate_document
from service.companies.yaml_io import (
    CompanyFileError,
    InvalidCompanyFiles,
    dump_company,
    load_company,
    load_company_file,
)

CLIENTS = Path(__file__).resolve().parents[2] / "clients"

# The example of CONTRACT §4; the line numbers below refer to it.
SAKURA = """\
slug: sakura-dental
name: さくら歯科クリニック
phone_numbers: ["+815012345678"]
locale: ja
greeting: お電話ありがとうございます。さくら歯科クリニックでございます。
script:
  - say: 担当者が不在のため、ご用件を承ります。
  - ask: お名前とご連絡先をお伺いできますか。
  - ask: 診察券番号をお持ちですか。
    field: patient_no
fields:
  - {key: patient_no, label: 診察券番号, required: false}
contacts:
  - {key: director, name: 佐藤 院長, email: sato@example.jp, phone: "+819012345678"}
  - {key: office, name: 受付, email: uketsuke@example.jp}
routing:
  - {when: {urgency: urgent}, notify: [director], channels: [sms, email]}
  - {when: {category: complaint}, notify: [director, office], channels: [email]}
  - {notify: [office], channels: [email]}
escalation:
  - {after: 15m, notify: [director], channels: [sms]}
  - {after: 45m, action: operator_callback}
hours: {timezone: Asia/Tokyo, open: "09:00", close: "18:00", days: [mon, tue, wed, thu, fri]}
templates: {}
"""


def refused(text: str, file: str = "clients/sakura-dental.yaml") -> list[CompanyFileError]:
    with pytest.raises(InvalidCompanyFiles) as caught:
        load_company(text, file=file)
    return caught.value.errors


def test_the_contract_example_loads() -> None:
    config = load_company(SAKURA).config

    assert config.name == "さくら歯科クリニック"
    assert [rule.notify for rule in config.routing] == [
        ["director"],
        ["director", "office"],
        ["office"],
    ]


@pytest.mark.parametrize("path", sorted(CLIENTS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_example_client_loads(path: Path) -> None:
    config = load_company_file(path).config

    assert path.stem == config.slug
    assert len(config.contacts) >= 2
    assert config.routing[-1].when is None
    assert any(step.action == "operator_callback" for step in config.escalation)


def test_the_example_clients_are_the_four_of_the_demo() -> None:
    slugs = {load_company_file(path).config.slug for path in CLIENTS.glob("*.yaml")}

    assert {"sakura-dental", "northwind-shop"} <= slugs
    assert len(slugs) == 4


def test_an_invalid_phone_is_refused_with_file_line_field_and_reason() -> None:
    text = SAKURA.replace('phone: "+819012345678"', 'phone: "+81 90-12"')

    [error] = refused(text)

    assert str(error).startswith("clients/sakura-dental.yaml:14: contacts[0].phone: ")
    assert "not a valid E.164 number" in error.reason
    assert (error.file, error.line, error.field) == (
        "clients/sakura-dental.yaml",
        14,
        "contacts[0].phone",
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "reason"),
    [
        ("slug: sakura-dental", "slug: Sakura Dental", 1, "slug", "not a valid slug"),
        ("locale: ja", "locale: jp", 4, "locale", "'ja' or 'en'"),
        ("  - ask: お名前", "  - asks: お名前", 8, "script[1].asks", "unknown key 'asks'"),
        (
            "notify: [director, office]",
            "notify: [director, boss]",
            18,
            "routing[1].notify[1]",
            "unknown contact 'boss'",
        ),
        ("{after: 15m,", "{after: 15 minutes,", 21, "escalation[0].after", "90s, 15m or 2h"),
        ("Asia/Tokyo", "Tokyo", 23, "hours.timezone", "IANA"),
        ('open: "09:00"', "open: 18:00", 23, "hours.open", "in quotes"),
        (
            "    field: patient_no",
            "    field: patient_number",
            10,
            "script[2].field",
            "not declared",
        ),
        (
            "  - {notify: [office], channels: [email]}",
            "  - {when: {category: other}, notify: [office], channels: [email]}",
            19,
            "routing[2].when",
            "default",
        ),
    ],
)
def test_a_bad_value_is_refused_on_its_line(
    old: str, new: str, line: int, field: str, reason: str
) -> None:
    assert old in SAKURA
    errors = refused(SAKURA.replace(old, new, 1))

    assert [(e.line, e.field) for e in errors] == [(line, field)], errors
    assert reason in errors[0].reason


def test_a_missing_key_is_reported_on_the_line_of_its_mapping() -> None:
    text = SAKURA.replace(
        "  - {key: office, name: 受付, email: uketsuke@example.jp}",
        "  - {key: office, email: uketsuke@example.jp}",
    )

    [error] = refused(text)

    assert (error.line, error.field, error.reason) == (
        15,
        "contacts[1].name",
        "required, but missing",
    )


def test_a_template_error_points_at_the_line_inside_the_block() -> None:
    text = SAKURA.replace(
        "templates: {}", "templates:\n  sms: |\n    {{ memo.subject }}\n    {{ memo.body }\n"
    )

    [error] = refused(text)

    assert (error.line, error.field) == (27, "templates.sms")
    assert error.reason == "line 2 of the template: unexpected '}'"


def test_a_yaml_syntax_error_gives_its_line() -> None:
    text = SAKURA.replace(
        "  - {notify: [office], channels: [email]}", "  - {notify: [office, channels: [email]}"
    )

    [error] = refused(text)

    assert error.line == 19
    assert error.reason.startswith("not valid YAML:")


def test_a_key_written_twice_is_refused() -> None:
    [error] = refused(SAKURA + "locale: en\n")

    assert error.line == 25
    assert "'locale' appears twice (first on line 4)" in error.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- sakura-dental\n- aoba-property\n", "a company file is a mapping"),
        ("さくら歯科\n", "a company file is a mapping"),
        ("slug: a\n---\nslug: b\n", "not valid YAML"),
        ("slug: !!python/object/apply:os.system [ls]\n", "not valid YAML"),
    ],
)
def test_a_file_that_is_not_one_company_is_refused(text: str, reason: str) -> None:
    [error] = refused(text, file="x.yaml")

    assert error.file == "x.yaml"
    assert reason in error.reason


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sjis.yaml"
    path.write_bytes(SAKURA.encode("shift_jis"))

    with pytest.raises(InvalidCompanyFiles, match=r"sjis.yaml:1: not UTF-8 text"):
        load_company_file(path)


def test_dump_then_load_gives_the_same_company() -> None:
    config = load_company(SAKURA).config
    templated = config.model_copy(
        update={
            "templates": config.templates.model_copy(
                update={"email_text": "{{ memo.subject }}\n\n本文\n"}
            )
        }
    )

    assert load_company(dump_company(templated)).config == templated


def test_dump_writes_keys_in_contract_order_with_japanese_as_is() -> None:
    text = dump_company(load_company(SAKURA).config)
    top_level = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]

    assert top_level == [
        "slug", "name", "phone_numbers", "locale", "greeting", "script", "fields",
        "contacts", "routing", "escalation", "hours",
    ]  # fmt: skip
    assert "お電話ありがとうございます。さくら歯科クリニックでございます。" in text
    assert "- {after: 15m, notify: [director], channels: [sms]}" in text
    assert "\\u" not in text


def test_a_multi_line_template_is_dumped_as_a_block() -> None:
    config = load_company(SAKURA).config
    config.templates.email_text = "{{ memo.subject }}\n本文\n"

    assert "  email_text: |\n    {{ memo.subject }}\n    本文\n" in dump_company(config)


@pytest.mark.parametrize("path", sorted(CLIENTS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_example_client_survives_dump_and_load(path: Path) -> None:
    config = load_company_file(path).config
    again = load_company(dump_company(config)).config

    assert again == config
    assert again.document() == config.document()


def test_awkward_text_survives_dump_and_load() -> None:
    document = {
        "slug": "obrien-co",
        "name": 'O\'Brien "&" Co',
        "greeting": "'quoted' start: yes # not a comment",
        "contacts": [{"key": "a", "name": "#1 \\ back, {x}", "email": "a@example.com"}],
        "routing": [{"notify": ["a"], "channels": ["email"]}],
        "templates": {
            "sms": "  {{ subject }}  \ttrailing  \n second",
            "email_text": "line\n\n  indented\n",
        },
        "hours": {"timezone": "UTC", "open": "00:00", "close": "24:00", "days": ["sun"]},
    }
    config = validate_document(document)

    text = dump_company(config)

    assert load_company(text).config == config
    assert 'close: "24:00"' in text
