"""Versions: what each changed in one line, the diff of two, and the round trip through YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session

from service.audit.service import Actor
from service.companies import service
from service.companies.validation import validate_document
from service.companies.versions import changed_keys, diff_lines, summary_text
from tests.factories import company_document


def test_changed_keys_follow_the_document_order() -> None:
    before = company_document()
    after = {**before, "contacts": [], "greeting": "はい", "hours": None}

    assert changed_keys(before=before, after=after) == ["greeting", "contacts", "hours"]
    assert changed_keys(before=None, after=after) == []


def test_a_summary_reads_in_each_language() -> None:
    keys = ["phone_numbers", "greeting"]

    assert summary_text(locale="en", changed=keys, restored_from=None) == (
        "phone numbers, greeting changed"
    )
    assert summary_text(locale="ja", changed=keys, restored_from=None) == "電話番号、挨拶を変更"
    assert summary_text(locale="en", changed=[], restored_from=None) == "created"
    assert summary_text(locale="en", changed=["script"], restored_from=2) == (
        "restored version 2: script changed"
    )
    assert summary_text(locale="ja", changed=["script"], restored_from=2) == (
        "バージョン 2 を復元（スクリプトを変更）"
    )


def test_a_diff_marks_each_line() -> None:
    lines = diff_lines(before="a\nb\nc\n", after="a\nB\nc\nd\n")

    assert [(line.op, line.text) for line in lines] == [
        ("same", "a"),
        ("remove", "b"),
        ("add", "B"),
        ("same", "c"),
        ("add", "d"),
    ]


def test_a_save_keeps_who_when_and_the_summary_and_audits_with_an_actor(
    session: Session,
) -> None:
    first = validate_document(company_document())
    second = validate_document(company_document(greeting="はい、さくら歯科です。"))

    service.save_company(session=session, config=first, changed_by="kato@example.jp")
    outcome = service.save_company(
        session=session,
        config=second,
        changed_by="kato@example.jp",
        actor=Actor(name="kato@example.jp"),
    )

    assert outcome.version is not None
    assert (outcome.version.version, outcome.version.summary) == (2, "greeting changed")
    assert outcome.version.changed == ["greeting"]


# What the pages may save: every optional part of a company filled in.
FULL: dict[str, Any] = {
    "phone_numbers": ["+81 3-5820-4182", "＋８１５０３１７１６６２０"],
    "escalation": [
        {"after": "90s", "notify": ["director"], "channels": ["sms", "voice"]},
        {"after": "15m", "urgent_after": "5m", "notify": ["office"], "channels": ["email"]},
        {"after": "2h", "action": "operator_callback"},
    ],
    "hours": {
        "timezone": "Asia/Tokyo",
        "open": "09:00",
        "close": "24:00",
        "days": ["mon", "sat"],
        "holidays": ["2026-12-31", "2027-01-01"],
    },
    "templates": {
        "email_subject": "【{{ category_label }}】{{ subject }}",
        "sms": "{{ company }}\n{{ subject }}\n{{ ack_url }}\n",
        "email_html": "<p>{{ body }}</p>\n<p>{{ ack_url }}</p>",
    },
}


def test_save_export_sync_is_the_same_version(session: Session, tmp_path: Path) -> None:
    config = validate_document(company_document(**FULL))
    service.save_company(session=session, config=config, changed_by="admin@relay.example")
    company = service.get_company(session=session, slug="sakura-dental")
    assert company is not None

    path = tmp_path / "sakura-dental.yaml"
    path.write_text(service.company_yaml(company), encoding="utf-8")
    [outcome] = service.sync_path(session=session, path=path, changed_by="cli:test")

    assert outcome.action == service.SaveAction.unchanged
    assert outcome.company.version == 1
    assert len(service.company_versions(session=session, company=company)) == 1


def test_company_summaries_list_slugs_names_versions_and_numbers(session: Session) -> None:
    for slug in ("sakura-dental", "aoba-dental"):
        config = validate_document(company_document(slug=slug))
        service.save_company(session=session, config=config, changed_by="test")
    session.commit()

    summaries = service.company_summaries(session=session)

    assert [(s.slug, s.version) for s in summaries] == [("aoba-dental", 1), ("sakura-dental", 1)]
    expected = company_document(slug="aoba-dental")["phone_numbers"]
    assert summaries[0].phone_numbers == expected
