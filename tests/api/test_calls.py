"""The console's call routes: simulate, list, pick up, caller history and flags."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import service as audit
from service.auth.models import Role, User
from service.clock import ManualClock
from service.companies.models import Company
from tests.factories import make_token, make_user


def simulate(client: TestClient, headers: dict[str, str], caller: str = "090-1111-2222") -> dict:
    response = client.post(
        "/api/v1/calls/simulate", json={"client": "sakura-dental", "from": caller}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_simulated_call_is_active_until_hung_up(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    call = simulate(client, operator_headers)
    assert (call["client"], call["from"], call["to"], call["status"]) == (
        "sakura-dental",
        "+819011112222",
        "+815012345678",
        "ringing",
    )
    active = client.get("/api/v1/calls", params={"active": "true"}, headers=operator_headers)
    assert [item["call_sid"] for item in active.json()["items"]] == [call["call_sid"]]
    assert set(active.json()["items"][0]) >= {
        "call_sid",
        "client",
        "from",
        "to",
        "status",
        "started_at",
    }

    hung = client.post(f"/api/v1/calls/{call['id']}/hangup", headers=operator_headers)
    assert hung.json()["status"] == "completed"
    active = client.get("/api/v1/calls", params={"active": "true"}, headers=operator_headers)
    assert active.json()["items"] == []


def test_picking_up_shows_greeting_script_and_caller_history(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator: User,
    operator_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    first = simulate(client, operator_headers)
    client.post(f"/api/v1/calls/{first['id']}/hangup", headers=operator_headers)
    flagged = client.post(
        "/api/v1/callers/+819011112222/flags",
        json={"kind": "harassment", "note": "大声で威圧的な発言が続いた（カスハラ）"},
        headers=operator_headers,
    )
    assert flagged.status_code == 201
    clock.advance(timedelta(days=1))
    second = simulate(client, operator_headers)

    picked = client.post(f"/api/v1/calls/{second['id']}/answer", headers=operator_headers)
    assert picked.status_code == 200
    detail = picked.json()
    assert detail["status"] == "in-progress"
    assert detail["answered_by"] == operator.id
    assert detail["company"]["name"] == sakura.name
    assert detail["company"]["greeting"]
    assert detail["company"]["script"]
    caller = detail["caller"]
    assert caller["repeat_caller"] is True
    assert caller["earlier_calls"] == 1
    assert [c["id"] for c in caller["calls"]] == [first["id"]]
    [flag] = caller["flags"]
    assert flag["note"] == "大声で威圧的な発言が続いた（カスハラ）"
    assert flag["flagged_by"] == operator.display_name

    cleared = client.delete(f"/api/v1/flags/{flag['id']}", headers=operator_headers)
    assert cleared.status_code == 200
    history = client.get("/api/v1/callers/090-1111-2222", headers=operator_headers).json()
    assert history["flags"] == []
    assert history["earlier_calls"] == 2


def test_flag_needs_a_note_and_a_real_number(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    empty = client.post(
        "/api/v1/callers/+819011112222/flags", json={"note": ""}, headers=operator_headers
    )
    assert empty.status_code == 422
    bad = client.post("/api/v1/callers/12/flags", json={"note": "x"}, headers=operator_headers)
    assert bad.status_code == 422


def test_clients_cannot_see_calls(client: TestClient, session: Session, sakura: Company) -> None:
    user = make_user(session, email="c@example.jp", role=Role.client, company_id=sakura.id)
    headers = make_token(session, user)
    assert client.get("/api/v1/calls", headers=headers).status_code == 403
    assert client.get("/api/v1/events", headers=headers).status_code == 403
    assert client.get("/api/v1/calls").status_code == 401


def test_simulate_is_refused_for_unknown_company_or_number(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    unknown = client.post(
        "/api/v1/calls/simulate",
        json={"client": "nope", "from": "09011112222"},
        headers=operator_headers,
    )
    assert unknown.status_code == 422
    bad = client.post(
        "/api/v1/calls/simulate",
        json={"client": "sakura-dental", "from": "12"},
        headers=operator_headers,
    )
    assert bad.status_code == 422
    assert client.get("/api/v1/calls/nope", headers=operator_headers).status_code == 404


def _second_operator(session: Session) -> tuple[User, dict[str, str]]:
    other = make_user(session, email="tanaka@relay.example", role=Role.operator)
    other.display_name = "田中 一郎"
    session.add(other)
    session.commit()
    return other, make_token(session, other)


def test_a_call_answered_by_one_operator_is_refused_to_another(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    operator.display_name = "鈴木 花子"
    session.add(operator)
    session.commit()
    _, other_headers = _second_operator(session)
    call = simulate(client, operator_headers)

    first = client.post(f"/api/v1/calls/{call['id']}/answer", headers=operator_headers)
    assert first.status_code == 200
    assert (first.json()["answered_by"], first.json()["answered_by_name"]) == (
        operator.id,
        "鈴木 花子",
    )
    # Pressing again (a double click, a second tab) is the same claim.
    again = client.post(f"/api/v1/calls/{call['id']}/answer", headers=operator_headers)
    assert again.status_code == 200
    assert again.json()["answered_by"] == operator.id

    refused = client.post(f"/api/v1/calls/{call['id']}/answer", headers=other_headers)
    assert refused.status_code == 409
    assert "鈴木 花子" in refused.json()["detail"]
    listed = client.get("/api/v1/calls", params={"active": "true"}, headers=other_headers)
    [item] = listed.json()["items"]
    assert (item["answered_by"], item["answered_by_name"]) == (operator.id, "鈴木 花子")
    assert item["status"] == "in-progress"


def test_only_the_answering_operator_or_an_admin_hangs_up(
    client: TestClient,
    session: Session,
    sakura: Company,
    operator: User,
    operator_headers: dict[str, str],
) -> None:
    _, other_headers = _second_operator(session)
    admin_headers = make_token(
        session, make_user(session, email="boss@relay.example", role=Role.admin)
    )
    mine = simulate(client, operator_headers)
    also_mine = simulate(client, operator_headers, caller="090-3333-4444")
    for call in (mine, also_mine):
        answered = client.post(f"/api/v1/calls/{call['id']}/answer", headers=operator_headers)
        assert answered.status_code == 200

    refused = client.post(f"/api/v1/calls/{mine['id']}/hangup", headers=other_headers)
    assert refused.status_code == 403
    assert operator.display_name in refused.json()["detail"]
    detail = client.get(f"/api/v1/calls/{mine['id']}", headers=operator_headers).json()
    assert detail["status"] == "in-progress"

    ended = client.post(f"/api/v1/calls/{mine['id']}/hangup", headers=operator_headers)
    assert (ended.status_code, ended.json()["status"]) == (200, "completed")
    by_supervisor = client.post(f"/api/v1/calls/{also_mine['id']}/hangup", headers=admin_headers)
    assert (by_supervisor.status_code, by_supervisor.json()["status"]) == (200, "completed")
    active = client.get("/api/v1/calls", params={"active": "true"}, headers=operator_headers)
    assert active.json()["items"] == []


def test_answering_or_hanging_up_an_unknown_call_is_404(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    assert client.post("/api/v1/calls/nope/answer", headers=operator_headers).status_code == 404
    assert client.post("/api/v1/calls/nope/hangup", headers=operator_headers).status_code == 404


def test_call_routes_declare_their_response_schemas(app: FastAPI) -> None:
    paths = app.openapi()["paths"]

    def schema(path: str, method: str, code: str) -> str:
        content = paths[path][method]["responses"][code]["content"]["application/json"]
        return str(content["schema"].get("$ref", "")).rsplit("/", 1)[-1]

    assert schema("/api/v1/calls", "get", "200") == "CallList"
    assert schema("/api/v1/calls/{call_id}", "get", "200") == "CallDetail"
    assert schema("/api/v1/calls/{call_id}/answer", "post", "200") == "CallDetail"
    assert "409" in paths["/api/v1/calls/{call_id}/answer"]["post"]["responses"]
    assert schema("/api/v1/calls/{call_id}/hangup", "post", "200") == "CallSummary"
    assert "403" in paths["/api/v1/calls/{call_id}/hangup"]["post"]["responses"]


def test_a_call_carries_its_number_as_people_write_it(
    client: TestClient, sakura: Company, operator_headers: dict[str, str]
) -> None:
    home = simulate(client, operator_headers)
    abroad = simulate(client, operator_headers, caller="+1 212-555-0100")

    detail = client.get(f"/api/v1/calls/{home['id']}", headers=operator_headers).json()
    listed = client.get("/api/v1/calls", params={"active": "true"}, headers=operator_headers)

    assert (home["from"], home["from_display"]) == ("+819011112222", "090-1111-2222")
    assert (abroad["from"], abroad["from_display"]) == ("+12125550100", "+1 212-555-0100")
    assert detail["from_display"] == "090-1111-2222"
    assert detail["caller"]["phone_display"] == "090-1111-2222"
    assert {item["from_display"] for item in listed.json()["items"]} == {
        "090-1111-2222",
        "+1 212-555-0100",
    }


def test_flagging_a_caller_and_lifting_the_flag_are_both_audited(
    client: TestClient, session: Session, sakura: Company, operator: User
) -> None:
    headers = make_token(session, operator)
    flag = client.post(
        "/api/v1/callers/090-1111-2222/flags",
        json={"kind": "harassment", "note": "大声で威圧的な発言"},
        headers=headers,
    ).json()

    lifted = client.delete(f"/api/v1/flags/{flag['id']}", headers=headers)

    assert lifted.status_code == 200
    entries, _ = audit.list_entries(session=session, action="caller")
    assert sorted((e.action, e.actor, e.target) for e in entries) == [
        ("caller.flag_cleared", operator.email, "caller:+819011112222"),
        ("caller.flagged", operator.email, "caller:+819011112222"),
    ]
    assert {e.detail["note"] for e in entries} == {"大声で威圧的な発言"}
