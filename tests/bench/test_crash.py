"""The crash run (bench/crash.py): what each round kills, how an operator resends a memo the
kill cut, and which counts its checks call violations."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

from bench import crash


def test_sqlite_rounds_kill_the_one_process() -> None:
    plan = crash.kill_plan("sqlite", rounds=3, rng=random.Random(1))
    assert plan == [["relay"], ["relay"], ["relay"]]


def test_three_postgresql_rounds_kill_both_apps_together_and_each_kind_of_process() -> None:
    for seed in range(20):
        plan = crash.kill_plan("postgresql", rounds=3, rng=random.Random(seed))
        assert ["app-1", "app-2"] in plan
        killed = {name.rsplit("-", 1)[0] for names in plan for name in names}
        assert killed == {"app", "dispatcher"}
        assert any(len([n for n in names if n.startswith("dispatcher")]) == 2 for names in plan)


def test_postgresql_rounds_repeat_with_the_seed_and_cover_every_kind_in_six() -> None:
    plan = crash.kill_plan("postgresql", rounds=6, rng=random.Random(7))
    assert plan == crash.kill_plan("postgresql", rounds=6, rng=random.Random(7))
    assert ["app-1", "app-2", "dispatcher-1", "dispatcher-2"] in plan
    assert sorted(len(names) for names in plan) == [1, 1, 2, 2, 2, 4]


async def test_a_memo_cut_by_a_kill_is_sent_again_with_its_key_and_counted_as_a_repeat() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Idempotency-Key"))
        if len(seen) == 1:
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        if len(seen) == 2:
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(200, json={"id": "m1", "deliveries": [{"id": "d1"}]})

    tally = crash.Tally()
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        await crash.take_memo(client, {"client": "x"}, "key-1", tally)
    assert seen == ["key-1", "key-1", "key-1"]
    assert (tally.created, tally.repeats, tally.resent, tally.cut, tally.busy) == (0, 1, 1, 1, 1)
    assert tally.answers == {"m1": ["d1"]}


async def test_a_memo_refused_while_the_server_is_down_is_sent_again_once_it_serves() -> None:
    serving = asyncio.Event()
    server_up_when_asked: list[bool] = []

    def answer(request: httpx.Request) -> httpx.Response:
        server_up_when_asked.append(serving.is_set())
        if not serving.is_set():
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, json={"id": "m1", "deliveries": []})

    async def restart() -> None:
        await asyncio.sleep(0.1)
        serving.set()

    tally = crash.Tally()
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        await asyncio.gather(
            crash.take_memo(client, {"client": "x"}, "key-1", tally, serving), restart()
        )
    assert server_up_when_asked == [False, True]
    assert (tally.created, tally.resent, tally.cut) == (1, 1, 1)


async def test_a_refusal_is_a_fault_and_not_sent_again() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(422, json={"detail": "no such client"})

    tally = crash.Tally()
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        await crash.take_memo(client, {"client": "x"}, "key-1", tally)
    assert calls == 1
    assert sum(tally.faults.values()) == 1
    assert not tally.answers


def _one_memo() -> tuple[crash.Tally, dict[str, str], list[tuple[str, str, str, str]]]:
    tally = crash.Tally(created=1)
    tally.answers["m1"] = ["s1", "s2", "e1", "e2"]
    memos = {"m1": "sent"}
    deliveries = [
        ("s1", "m1", "sms", "sent"),
        ("s2", "m1", "sms", "sent"),
        ("e1", "m1", "email", "sent"),
        ("e2", "m1", "email", "sent"),
    ]
    return tally, memos, deliveries


def _violations(checks: list[tuple[str, int, bool]]) -> dict[str, int]:
    return {what: count for what, count, passed in checks if not passed}


def test_every_delivery_arrived_once_is_no_violation() -> None:
    tally, memos, deliveries = _one_memo()
    checks, figures = crash.check(
        tally=tally,
        memos=memos,
        deliveries=deliveries,
        sms_arrivals=Counter({"s1": 1, "s2": 1}),
        email_copies=Counter({"e1": 1, "e2": 1}),
        email_ids={"e1": {"<a@x>"}, "e2": {"<b@x>"}},
    )
    assert _violations(checks) == {}
    assert (figures["sms"], figures["emails"], figures["sms twice"]) == (2, 2, 0)


def test_an_sms_twice_or_lost_is_a_violation_and_an_email_twice_is_reported_only() -> None:
    tally, memos, deliveries = _one_memo()
    checks, figures = crash.check(
        tally=tally,
        memos=memos,
        deliveries=deliveries,
        sms_arrivals=Counter({"s1": 2}),
        email_copies=Counter({"e1": 2, "e2": 1}),
        email_ids={"e1": {"<a@x>"}, "e2": {"<b@x>"}},
    )
    assert _violations(checks) == {
        "SMS deliveries that never reached the stand-in": 1,
        "SMS deliveries that reached it twice or more": 1,
    }
    assert ("emails that reached the SMTP server twice or more", 1, True) in checks
    assert figures["emails twice"] == 1


def test_a_memo_answered_but_missing_or_unsettled_is_a_violation() -> None:
    tally, memos, deliveries = _one_memo()
    tally.answers["m2"] = ["s9"]
    deliveries[0] = ("s1", "m1", "sms", "sending")
    checks, _ = crash.check(
        tally=tally,
        memos=memos,
        deliveries=deliveries,
        sms_arrivals=Counter({"s1": 1, "s2": 1}),
        email_copies=Counter({"e1": 1, "e2": 1}),
        email_ids={"e1": {"<a@x>"}, "e2": {"<b@x>"}},
    )
    assert _violations(checks) == {
        "memos answered 201/200 missing from the database": 1,
        "deliveries not sent or delivered": 1,
    }
