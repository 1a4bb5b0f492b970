"""The company document: what is accepted, how it is normalised, and why bad ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.companies.config import CompanyConfig, format_duration, parse_duration
from service.companies.validation import CompanyConfigError, validate_document
from tests.factories import company_document

TOKYO = ZoneInfo("Asia/Tokyo")


def refusal(document: dict[str, Any]) -> dict[str, str]:
    """Every refusal of `document`, as {field: reason}."""
    with pytest.raises(CompanyConfigError) as caught:
        validate_document(document)
    return {issue.field: issue.reason for issue in caught.value.issues}


def test_the_contract_example_is_accepted_as_is() -> None:
    config = validate_document(company_document())

    assert config.slug == "sakura-dental"
    assert config.greeting == "お電話ありがとうございます。さくら歯科クリニックでございます。"
    assert config.script[2].ask == "診察券番号をお持ちですか。"
    assert config.script[2].field == "patient_no"
    assert config.escalation[0].after == timedelta(minutes=15)
    assert config.escalation[1].action == "operator_callback"
    assert config.hours is not None and config.hours.days == ["mon", "tue", "wed", "thu", "fri"]


def test_phone_numbers_written_with_separators_are_kept_as_e164() -> None:
    contacts = [{"key": "office", "name": "受付", "phone": "+81 90-1234-5678"}]
    routing = [{"notify": ["office"], "channels": ["sms"]}]
    document = company_document(
        phone_numbers=["+81 50-1234-5678"], contacts=contacts, routing=routing, escalation=[]
    )
    config = validate_document(document)

    assert config.phone_numbers == ["+815012345678"]
    assert config.contact("office").phone == "+819012345678"


@pytest.mark.parametrize(
    ("numbers", "locale", "country"),
    [
        (["+815012345678"], "ja", "JP"),
        (["+14155550142", "+815012345678"], "ja", "US"),
        (["+442079460321"], "en", "GB"),
        ([], "ja", "JP"),
        ([], "en", "US"),
    ],
)
def test_country_comes_from_the_first_number_else_the_locale(
    numbers: list[str], locale: str, country: str
) -> None:
    config = validate_document(company_document(phone_numbers=numbers, locale=locale))

    assert config.country == country


def test_contact_finds_a_contact_by_key() -> None:
    config = validate_document(company_document())

    assert config.contact("director").name == "佐藤 院長"
    with pytest.raises(KeyError):
        config.contact("nobody")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2))],
)
def test_durations_are_read_and_written_back(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert format_duration(expected) == text


def test_a_duration_is_written_in_its_largest_exact_unit() -> None:
    assert format_duration(timedelta(minutes=120)) == "2h"
    assert format_duration(timedelta(minutes=90)) == "90m"
    assert format_duration(timedelta(seconds=61)) == "61s"


@pytest.mark.parametrize("text", ["15", "1d", "m", "-5m", "1.5h", ""])
def test_a_malformed_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="90s, 15m or 2h"):
        parse_duration(text)


def test_document_leaves_out_unset_optional_parts() -> None:
    document = company_document(escalation=[], fields=[], script=[{"say": "承ります。"}])
    data = validate_document(document).document()

    assert "templates" not in data and "escalation" not in data and "fields" not in data
    assert "phone" not in data["contacts"][1]
    assert "when" not in data["routing"][-1]
    assert "holidays" not in data["hours"]
    assert validate_document(data).document() == data


def _base(**overrides: Any) -> dict[str, Any]:
    return company_document(**overrides)


BAD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("slug", _base(slug="Sakura_Dental"), "slug", "lower-case letters"),
    ("domestic number", _base(phone_numbers=["03-1234-5678"]), "phone_numbers[0]", "E.164"),
    ("short number", _base(phone_numbers=["+81 90"]), "phone_numbers[0]", "not a valid"),
    (
        "same number twice",
        _base(phone_numbers=["+815012345678", "+81 50-1234-5678"]),
        "phone_numbers[1]",
        "listed twice",
    ),
    ("locale", _base(locale="fr"), "locale", "'ja' or 'en'"),
    (
        "missing greeting",
        {k: v for k, v in _base().items() if k != "greeting"},
        "greeting",
        "required",
    ),
    ("empty greeting", _base(greeting="   "), "greeting", "must not be empty"),
    ("unknown key", _base(greting="x"), "greting", "unknown key"),
    (
        "bad contact phone",
        _base(
            contacts=[{"key": "director", "name": "佐藤", "email": "a@example.jp", "phone": "090"}]
        ),
        "contacts[0].phone",
        "E.164",
    ),
    (
        "bad email",
        _base(contacts=[{"key": "office", "name": "受付", "email": "uketsuke"}]),
        "contacts[0].email",
        "not an email address",
    ),
    (
        "unreachable contact",
        _base(contacts=[{"key": "office", "name": "受付"}]),
        "contacts[0]",
        "needs an `email:` or a `phone:`",
    ),
    (
        "duplicate contact",
        _base(
            contacts=[
                {
                    "key": "director",
                    "name": "佐藤",
                    "email": "a@example.jp",
                    "phone": "+819012345678",
                },
                {"key": "office", "name": "受付", "email": "b@example.jp"},
                {"key": "office", "name": "受付2", "email": "c@example.jp"},
            ]
        ),
        "contacts[2].key",
        "'office' is listed twice",
    ),
    (
        "duplicate field",
        _base(
            fields=[
                {"key": "patient_no", "label": "診察券番号"},
                {"key": "patient_no", "label": "番号"},
            ]
        ),
        "fields[1].key",
        "'patient_no' is listed twice",
    ),
    (
        "undeclared script field",
        _base(fields=[]),
        "script[2].field",
        "'patient_no' is not declared under `fields:`",
    ),
    (
        "say with field",
        _base(script=[{"say": "承ります。", "field": "patient_no"}]),
        "script[0].field",
        "use `ask:`",
    ),
    (
        "step with say and ask",
        _base(script=[{"say": "a", "ask": "b"}]),
        "script[0]",
        "exactly one of",
    ),
    (
        "unknown contact in routing",
        _base(routing=[{"notify": ["boss"], "channels": ["email"]}]),
        "routing[0].notify[0]",
        "unknown contact 'boss' (contacts are: director, office)",
    ),
    (
        "sms to a contact without a phone",
        _base(routing=[{"notify": ["office"], "channels": ["sms"]}]),
        "routing[0].notify[0]",
        "'office' has no phone",
    ),
    (
        "email to a contact without an email",
        _base(
            contacts=[{"key": "night", "name": "夜間", "phone": "+819012345678"}],
            routing=[{"notify": ["night"], "channels": ["email"]}],
            escalation=[],
        ),
        "routing[0].notify[0]",
        "'night' has no email",
    ),
    (
        "last rule with when",
        _base(
            routing=[{"when": {"urgency": "urgent"}, "notify": ["office"], "channels": ["email"]}]
        ),
        "routing[0].when",
        "the last rule is the default",
    ),
    (
        "default rule before others",
        _base(
            routing=[
                {"notify": ["office"], "channels": ["email"]},
                {"notify": ["director"], "channels": ["email"]},
            ]
        ),
        "routing[0]",
        "only the last rule may leave out `when:`",
    ),
    (
        "unknown channel",
        _base(routing=[{"notify": ["office"], "channels": ["fax"]}]),
        "routing[0].channels[0]",
        "'email', 'sms', 'voice'",
    ),
    (
        "unknown category",
        _base(
            routing=[{"when": {"category": "praise"}, "notify": ["office"], "channels": ["email"]}]
        ),
        "routing[0].when.category",
        "'complaint', 'inquiry', 'callback', 'order' or 'other'",
    ),
    (
        "bad duration",
        _base(escalation=[{"after": "15", "notify": ["director"], "channels": ["sms"]}]),
        "escalation[0].after",
        "90s, 15m or 2h",
    ),
    (
        "unknown contact in escalation",
        _base(escalation=[{"after": "15m", "notify": ["boss"], "channels": ["sms"]}]),
        "escalation[0].notify[0]",
        "unknown contact 'boss'",
    ),
    (
        "escalation with action and notify",
        _base(escalation=[{"after": "15m", "action": "operator_callback", "notify": ["office"]}]),
        "escalation[0]",
        "not both",
    ),
    (
        "escalation out of order",
        _base(
            escalation=[
                {"after": "1h", "action": "operator_callback"},
                {"after": "15m", "notify": ["director"], "channels": ["sms"]},
            ]
        ),
        "escalation[1].after",
        "15m comes after 1h",
    ),
    (
        "unknown time zone",
        _base(hours={"timezone": "Asia/Tokio", "open": "09:00", "close": "18:00", "days": ["mon"]}),
        "hours.timezone",
        "not an IANA time zone",
    ),
    (
        "open after close",
        _base(hours={"timezone": "Asia/Tokyo", "open": "18:00", "close": "09:00", "days": ["mon"]}),
        "hours.close",
        "open must be before close",
    ),
    (
        "time read as a number",
        _base(hours={"timezone": "Asia/Tokyo", "open": 540, "close": "18:00", "days": ["mon"]}),
        "hours.open",
        "in quotes",
    ),
    (
        "bad template",
        _base(templates={"email_text": "件名: {{ memo.subject }}\n\n{{ memo.body }\n"}),
        "templates.email_text",
        "line 3 of the template: unexpected '}'",
    ),
    (
        "unknown template",
        _base(templates={"fax": "x"}),
        "templates.fax",
        "expected one of: email_subject, email_text, email_html, sms",
    ),
]


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_a_bad_document_is_refused_naming_the_field_and_reason(
    document: dict[str, Any], field: str, reason: str
) -> None:
    problems = refusal(document)

    assert field in problems, problems
    assert reason in problems[field]


def test_every_problem_is_reported_at_once() -> None:
    document = _base(
        slug="Bad Slug", locale="fr", phone_numbers=["12345"], hours={"timezone": "Mars/Base"}
    )

    problems = refusal(document)

    assert {"slug", "locale", "phone_numbers[0]", "hours.timezone", "hours.open"} <= set(problems)


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(CompanyConfigError, match="mapping"):
        validate_document(["slug", "name"])


def test_model_validate_also_enforces_the_cross_checks() -> None:
    document = _base(routing=[{"notify": ["boss"], "channels": ["email"]}])

    with pytest.raises(ValueError, match="unknown contact 'boss'"):
        CompanyConfig.model_validate(document)


def _hours(**overrides: Any) -> CompanyConfig:
    hours = {"timezone": "Asia/Tokyo", "open": "09:00", "close": "18:00", "days": ["mon", "fri"]}
    return validate_document(_base(hours={**hours, **overrides}))


def test_open_during_hours_and_closed_outside() -> None:
    config = _hours()
    friday = datetime(2026, 1, 9, tzinfo=TOKYO)

    assert config.is_open(friday.replace(hour=9))
    assert config.is_open(friday.replace(hour=17, minute=59))
    assert not config.is_open(friday.replace(hour=18))
    assert not config.is_open(friday.replace(hour=8, minute=59))
    assert not config.is_open(datetime(2026, 1, 7, 12, tzinfo=TOKYO))  # a Wednesday


def test_next_opening_after_closing_is_the_next_listed_day() -> None:
    config = _hours()
    friday_evening = datetime(2026, 1, 9, 19, tzinfo=TOKYO).astimezone(UTC)

    opening = config.next_opening(friday_evening)

    assert opening == datetime(2026, 1, 12, 9, tzinfo=TOKYO)
    assert opening.tzinfo == UTC


def test_next_opening_skips_holidays_and_is_now_when_open() -> None:
    config = _hours(holidays=["2026-01-12"])
    friday_evening = datetime(2026, 1, 9, 19, tzinfo=TOKYO)
    friday_noon = datetime(2026, 1, 9, 12, tzinfo=TOKYO)

    assert config.next_opening(friday_evening) == datetime(2026, 1, 16, 9, tzinfo=TOKYO)
    assert config.next_opening(friday_noon) == friday_noon


def test_close_at_midnight_and_no_hours_means_always_open() -> None:
    config = _hours(open="00:00", close="24:00")
    always = validate_document({k: v for k, v in _base().items() if k != "hours"})

    assert config.is_open(datetime(2026, 1, 9, 23, 59, tzinfo=TOKYO))
    assert not config.is_open(datetime(2026, 1, 10, 0, 0, tzinfo=TOKYO))  # a Saturday
    assert always.is_open(datetime(2026, 1, 10, 3, tzinfo=TOKYO))


def test_opening_follows_the_wall_clock_across_daylight_saving() -> None:
    config = _hours(timezone="America/New_York", days=["mon"])
    new_york = ZoneInfo("America/New_York")
    # 2026-03-08 is the Sunday the clocks go forward in New York.
    sunday = datetime(2026, 3, 8, 12, tzinfo=new_york)

    assert config.next_opening(sunday) == datetime(2026, 3, 9, 9, tzinfo=new_york)
    assert config.next_opening(sunday).astimezone(UTC).hour == 13


def test_a_number_typed_in_full_width_is_accepted() -> None:
    config = validate_document(company_document(phone_numbers=["＋８１ ５０－１２３４－５６７８"]))

    assert config.phone_numbers == ["+815012345678"]
