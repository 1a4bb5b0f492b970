"""How the fault benchmark (bench/faults.py) counts what a recipient holds twice."""

from __future__ import annotations

from typing import Any

from bench.faults import _message_groups


def arrival(channel: str, key: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "channel": channel,
        "recipient": "to-1",
        "key": key,
        "tags": ["FX00001"],
        "event": "",
        "what": "message",
        "taken": True,
    }
    fields.update(overrides)
    return fields


def held(arrivals: list[dict[str, Any]]) -> dict[str, int]:
    return {group[0]: len(keys) for group, keys in _message_groups(arrivals).items()}


def test_two_messages_taken_on_a_channel_without_a_key_are_held_twice() -> None:
    arrivals = [arrival("slack", "d1"), arrival("slack", "d1"), arrival("teams", "t", tags=[])]

    assert held(arrivals) == {"slack": 2}


def test_a_webhook_event_taken_again_under_its_id_is_one_message() -> None:
    arrivals = [
        arrival("webhook", "msg_1", event="memo.created"),
        arrival("webhook", "msg_1", event="memo.created"),
        arrival("webhook", "msg_2", event="memo.failed"),
    ]

    assert sorted(len(keys) for keys in _message_groups(arrivals).values()) == [1, 1]


def test_refused_pushes_lookups_and_email_copies_are_not_messages_held() -> None:
    arrivals = [
        arrival("line", "k1"),
        arrival("line", "k1", taken=False),  # answered 409: LINE kept the first
        arrival("slack", "", what="lookup"),
        arrival("email", "<relay.d1@x>"),
        arrival("email", "<relay.d1@x>"),
    ]

    assert held(arrivals) == {"line": 1}
