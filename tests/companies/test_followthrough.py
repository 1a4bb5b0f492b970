"""What a company asks after delivery: follow-up reminders, retention, the daily recap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.companies.config import DEFAULT_FOLLOW_UP
from service.companies.validation import CompanyConfigError, validate_document
from tests.factories import company_document


def refusal(document: dict[str, Any]) -> dict[str, str]:
    """Every refusal of `document`, as {field: reason}."""
    with pytest.raises(CompanyConfigError) as caught:
        validate_document(document)
    return {issue.field: issue.reason for issue in caught.value.issues}


def test_a_full_follow_up_rule_is_read() -> None:
    follow_up = {
        "after": "48h",
        "categories": ["complaint", "callback"],
        "remind_before": "12h",
        "renotify_every": "24h",
        "notify": ["director"],
        "channels": ["email", "sms"],
    }
    config = validate_document(company_document(follow_up=follow_up))

    rule = config.follow_up_rule()
    assert rule.remind_before == timedelta(hours=12)
    assert rule.renotify_every == timedelta(hours=24)
    assert rule.notify == ["director"]
    assert rule.channels == ["email", "sms"]
    assert config.document()["follow_up"]["remind_before"] == "12h"


def test_without_follow_up_complaints_are_due_in_three_days_with_a_reminder_a_day_before() -> None:
    rule = validate_document(company_document()).follow_up_rule()

    assert rule is DEFAULT_FOLLOW_UP
    assert rule.after == timedelta(hours=72)
    assert rule.remind_before == timedelta(hours=24)
    assert rule.renotify_every is None
    assert rule.channels == ["email"]


@pytest.mark.parametrize(
    ("follow_up", "field"),
    [
        ({"after": "24h", "categories": ["complaint"], "remind_before": "24h"}, "remind_before"),
        ({"after": "24h", "categories": ["complaint"], "renotify_every": "30m"}, "renotify_every"),
        ({"after": "24h", "categories": ["complaint"], "notify": ["nobody"]}, "notify"),
        ({"after": "24h", "categories": ["complaint"], "channels": ["voice"]}, "channels"),
        ({"after": "24h", "categories": ["complaint", "complaint"]}, "categories"),
    ],
)
def test_a_follow_up_rule_that_cannot_work_is_refused(
    follow_up: dict[str, Any], field: str
) -> None:
    refused = refusal(company_document(follow_up=follow_up))

    assert any(field in where for where in refused), refused


def test_retention_is_kept_in_days_and_each_part_is_optional() -> None:
    config = validate_document(company_document(retention={"memo_days": 365}))

    assert config.retention is not None
    assert config.retention.memo_days == 365
    assert config.retention.recording_days is None
    assert config.document()["retention"] == {"memo_days": 365}


@pytest.mark.parametrize("days", [0, -1, 36_501, "a year"])
def test_a_retention_that_is_not_a_sensible_number_of_days_is_refused(days: Any) -> None:
    refused = refusal(company_document(retention={"memo_days": days}))

    assert any("memo_days" in where for where in refused), refused


def test_an_unknown_retention_part_is_refused() -> None:
    refused = refusal(company_document(retention={"audio_days": 30}))

    assert any("audio_days" in where for where in refused), refused


def test_a_recap_needs_a_quoted_time_and_a_real_zone() -> None:
    config = validate_document(company_document(recap={"at": " 18:00 "}))
    assert config.recap is not None
    assert (config.recap.at, config.recap.timezone) == ("18:00", "Asia/Tokyo")

    assert "recap.at" in refusal(company_document(recap={"at": 1080}))
    assert "recap.at" in refusal(company_document(recap={"at": "25:00"}))
    assert "recap.timezone" in refusal(company_document(recap={"at": "18:00", "timezone": "Tokyo"}))


def test_contacts_and_destinations_opt_in_to_the_recap_and_others_do_not() -> None:
    contacts = [
        {"key": "director", "name": "院長", "email": "director@example.jp", "recap": True},
        {"key": "desk", "name": "受付", "email": "desk@example.jp"},
    ]
    document = company_document(
        contacts=contacts, routing=[{"notify": ["desk"], "channels": ["email"]}], escalation=[]
    )
    config = validate_document(document)

    assert config.contact("director").recap is True
    assert not config.contact("desk").recap
    assert "recap" not in config.document()["contacts"][1]
