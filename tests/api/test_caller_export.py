"""A caller's evidence export for staff: every company's calls and memos and the flags, as JSON
or CSV, each export in the audit trail."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.i18n import translate
from service.web.caller_export import CSV_HEADERS, RECORD_KINDS
from tests.memos.test_caller_record import RECORDING, CallerHistory, make_caller_history


@pytest.fixture
def history(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> CallerHistory:
    return make_caller_history(session, clock, operator, admin, company)


def _export(client: TestClient, headers: dict[str, str], phone: str, fmt: str) -> Any:
    return client.get(
        f"/api/v1/callers/{phone}/export",
        params={"format": fmt},
        headers={**headers, "Accept-Language": "ja"},
    )


def test_the_json_export_holds_every_call_memo_and_flag_oldest_first(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    operator: User,
    admin: User,
    admin_headers: dict[str, str],
) -> None:
    answer = _export(client, admin_headers, "090-1111-2222", "json")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert 'filename="relay-caller-819011112222-' in answer.headers["content-disposition"]
    body = answer.json()
    assert {k: body[k] for k in ("phone", "phone_display", "client", "exported_by")} == {
        "phone": "+819011112222",
        "phone_display": "090-1111-2222",
        "client": None,
        "exported_by": admin.display_name,
    }
    assert body["calls"] == [
        {
            "id": history.sakura_call.id,
            "call_sid": "CA" + "1" * 32,
            "client": "sakura-dental",
            "client_name": "さくら歯科クリニック",
            "to": history.sakura.config["phone_numbers"][0],
            "started_at": "2026-01-05T00:00:00+00:00",
            "ended_at": None,
            "status": "ringing",
            "source": "twilio",
            "answered_by": operator.display_name,
            "recording_url": RECORDING,
        },
        {
            "id": history.kaede_call.id,
            "call_sid": "CA" + "2" * 32,
            "client": "kaede-law",
            "client_name": "かえで法律事務所",
            "to": "+81358204182",
            "started_at": "2026-01-05T01:00:00+00:00",
            "ended_at": None,
            "status": "ringing",
            "source": "twilio",
            "answered_by": None,
            "recording_url": None,
        },
    ]
    first, kaede, later = body["memos"]
    assert first == {
        "id": history.sakura_memo.id,
        "client": "sakura-dental",
        "client_name": "さくら歯科クリニック",
        "call_id": history.sakura_call.id,
        "created_at": "2026-01-05T00:00:00+00:00",
        "taken_by": operator.display_name,
        "category": "complaint",
        "urgency": "normal",
        "caller_name": "山田 太郎",
        "caller_phone": "+81331234567",
        "caller_company": None,
        "subject": "受付の対応について",
        "body": "本日15時の予約が入っていなかった。至急折り返しを希望。",
        "fields": {"patient_no": "12345"},
        "status": "acknowledged",
        "acknowledged": {
            "at": "2026-01-05T00:30:00+00:00",
            "by": "佐藤 院長",
            "via": "link",
            "recorded_by": None,
        },
        "resolutions": [],
    }
    assert (kaede["id"], kaede["client"], kaede["acknowledged"]) == (
        history.kaede_memo.id,
        "kaede-law",
        None,
    )
    assert (later["id"], later["caller_phone"], later["urgency"]) == (
        history.sakura_later_memo.id,
        "+819011112222",
        "urgent",
    )
    assert body["flags"] == [
        {
            "id": history.lifted_flag_id,
            "kind": "harassment",
            "note": "大声で威圧",
            "flagged_by": operator.display_name,
            "flagged_at": "2026-01-05T03:00:00+00:00",
            "cleared_at": "2026-01-05T04:00:00+00:00",
            "cleared_by": admin.display_name,
        },
        {
            "id": history.flag_id,
            "kind": "repeat",
            "note": "毎日同じ時刻に",
            "flagged_by": operator.display_name,
            "flagged_at": "2026-01-05T05:00:00+00:00",
            "cleared_at": None,
            "cleared_by": None,
        },
    ]
    assert history.other_memo.id not in answer.text


def test_the_csv_export_is_one_table_in_time_order_with_a_bom(
    client: TestClient,
    history: CallerHistory,
    operator: User,
    admin: User,
    operator_headers: dict[str, str],
) -> None:
    answer = _export(client, operator_headers, "+819011112222", "csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    headers = [translate("ja", header) for header in CSV_HEADERS]
    assert rows[0] == headers
    assert headers[:4] == ["記録", "時刻", "タイムゾーン", "会社名"]
    assert headers[13:16] == ["確認日時", "確認者", "確認方法"]
    kind = {key: translate("ja", message) for key, message in RECORD_KINDS.items()}
    tokyo = "Asia/Tokyo"
    op = operator.display_name
    assert [row[:5] for row in rows[1:]] == [
        [kind["call"], "2026-01-05 09:00:00", tokyo, "さくら歯科クリニック", "CA" + "1" * 32],
        [
            kind["memo"],
            "2026-01-05 09:00:00",
            tokyo,
            "さくら歯科クリニック",
            history.sakura_memo.id,
        ],
        [kind["call"], "2026-01-05 10:00:00", tokyo, "かえで法律事務所", "CA" + "2" * 32],
        [kind["memo"], "2026-01-05 10:00:00", tokyo, "かえで法律事務所", history.kaede_memo.id],
        [
            kind["memo"],
            "2026-01-05 11:00:00",
            tokyo,
            "さくら歯科クリニック",
            history.sakura_later_memo.id,
        ],
        [kind["flag"], "2026-01-05 12:00:00", tokyo, "", history.lifted_flag_id],
        [kind["flag"], "2026-01-05 14:00:00", tokyo, "", history.flag_id],
    ]
    call, memo = rows[1], rows[2]
    assert call[12] == op and call[16] == RECORDING
    assert memo[10] == "受付の対応について" and memo[12] == op
    assert memo[13:16] == ["2026-01-05 09:30:00", "佐藤 院長", "リンク"]
    lifted, in_force = rows[6], rows[7]
    assert kind["flag"] == "要注意の発信者" and kind["memo"] == "メモ"
    assert lifted[6] == "カスハラ・嫌がらせ" and lifted[11] == "大声で威圧" and lifted[12] == op
    assert admin.display_name in lifted[5] and "2026-01-05 13:00:00" in lifted[5]
    assert in_force[11] == "毎日同じ時刻に"


def test_every_export_is_audited(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    admin: User,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    _export(client, admin_headers, "０９０１１１１２２２２", "csv")
    clock.advance(timedelta(minutes=1))
    _export(client, admin_headers, "+819011112222", "json")

    entries, _ = audit.list_entries(session=session, action="export")
    assert [(e.actor, e.target, e.company_id, e.detail) for e in entries] == [
        (
            admin.email,
            "caller:+819011112222",
            None,
            {"format": fmt, "scope": "bureau", "calls": "2", "memos": "3", "flags": "2"},
        )
        for fmt in ("json", "csv")
    ]


def test_client_users_are_refused_and_a_non_number_is_422(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    client_headers: dict[str, str],
    operator_headers: dict[str, str],
) -> None:
    refused = _export(client, client_headers, "090-1111-2222", "json")
    not_a_number = _export(client, operator_headers, "12", "json")
    bad_format = _export(client, operator_headers, "090-1111-2222", "xml")

    assert refused.status_code == 403
    assert not_a_number.status_code == 422
    assert not_a_number.json()["code"] == "bad_phone"
    assert bad_format.status_code == 422
    entries, _ = audit.list_entries(session=session, action="export")
    assert entries == []


def test_the_export_declares_its_schema(app: FastAPI) -> None:
    spec = app.openapi()
    answer = spec["paths"]["/api/v1/callers/{phone}/export"]["get"]["responses"]["200"]

    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallerExport"
    }
    assert "text/csv" in answer["content"]
    assert "application/pdf" in answer["content"]


def test_the_pdf_export_is_audited_as_the_others_are(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    answer = _export(client, operator_headers, "+819011112222", "pdf")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    assert 'filename="relay-caller-819011112222-' in answer.headers["content-disposition"]
    assert answer.headers["content-disposition"].endswith('.pdf"')
    entries, _ = audit.list_entries(session=session, action="export")
    assert [(e.actor, e.target, e.company_id, e.detail) for e in entries] == [
        (
            operator.email,
            "caller:+819011112222",
            None,
            {"format": "pdf", "scope": "bureau", "calls": "2", "memos": "3", "flags": "2"},
        )
    ]


def test_the_export_says_how_the_company_handled_each_memo(
    client: TestClient,
    history: CallerHistory,
    client_user: User,
    client_headers: dict[str, str],
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    clock.advance(timedelta(hours=1))  # 15:00 in Tokyo
    account = {
        "response": "院長から謝罪",
        "cause": "受付の説明不足",
        "result": "了承",
        "resolved": True,
    }
    recorded = client.post(
        f"/api/v1/memos/{history.sakura_memo.id}/resolution", json=account, headers=client_headers
    )
    assert recorded.status_code == 200, recorded.text

    body = _export(client, admin_headers, "090-1111-2222", "json").json()
    rows = list(
        csv.reader(
            io.StringIO(
                _export(client, admin_headers, "090-1111-2222", "csv").text.lstrip("\ufeff")
            )
        )
    )

    first = body["memos"][0]
    assert first["resolutions"] == [
        {
            **account,
            "at": "2026-01-05T06:00:00+00:00",
            "by": client_user.display_name,
            "via": "portal",
            "recorded_by": client_user.display_name,
        }
    ]
    assert [m["resolutions"] for m in body["memos"][1:]] == [[], []]
    handled = translate("ja", RECORD_KINDS["resolution"])
    [row] = [row for row in rows if row[0] == handled]
    assert row[1] == "2026-01-05 15:00:00" and row[4] == history.sakura_memo.id
    assert row[5] == translate("ja", "Resolved")
    assert (row[11], row[12], row[17], row[18]) == (
        "院長から謝罪",
        client_user.display_name,
        "受付の説明不足",
        "了承",
    )
    assert rows[-1] == row  # the latest record comes last
    assert len(rows[0]) == len(CSV_HEADERS)
