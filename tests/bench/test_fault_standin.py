"""The fault stand-in (bench/fault_standin.py) meets Relay's own providers as the real platforms
would: each fault it is told to make reads as the outcome the fault benchmark counts on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bench import fault_standin
from service.channels import Channel
from service.providers.base import Found, Outcome, SendResult
from service.providers.chat.line import LineProvider
from service.providers.chat.slack import SlackProvider
from service.providers.chat.webhook import WebhookProvider
from service.providers.smtp import SmtpEmailProvider
from service.providers.twilio.rest import TwilioRest
from service.providers.twilio.sms import TwilioSmsProvider
from tests.factories import make_outgoing_message
from tests.providers.chat.support import DictSecrets, make_chat_message

# Short enough that a hung request ends the test quickly; the providers' own are longer.
TIMEOUT = 0.5
TAG = "FX00042"


@dataclass
class Running:
    control: httpx.AsyncClient
    ports: dict[str, int]

    def base(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.ports[channel]}"

    async def fault(self, **spec: Any) -> None:
        answer = await self.control.post("/faults", json=spec)
        assert answer.status_code == 200, answer.text

    async def arrivals(self, channel: str) -> list[dict[str, Any]]:
        answer = await self.control.get("/arrivals", params={"channel": channel})
        return [a for a in answer.json()["arrivals"] if a["what"] == "message"]


@pytest.fixture
async def standin() -> AsyncIterator[Running]:
    ports = {name: fault_standin._free_port() for name in fault_standin.CHANNELS}
    control = fault_standin._free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(fault_standin.serve(control, ports, ready))
    await asyncio.wait_for(ready.wait(), timeout=10)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control}") as client:
        yield Running(client, ports)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


def sms_provider(standin: Running, http: httpx.AsyncClient) -> TwilioSmsProvider:
    rest = TwilioRest(
        account_sid="AC" + "0" * 32,
        auth_token="token",
        api_base=standin.base("sms"),
        http_client=http,
    )
    return TwilioSmsProvider(rest=rest, sms_from="+815000000000")


def sms(delivery: str) -> Any:
    return make_outgoing_message(
        delivery_id=delivery,
        text=f"{TAG} 山田様よりお電話がありました。 https://relay.example.jp/a/{delivery}",
        status_callback=f"https://relay.example.jp/twilio/sms/status?d={delivery}",
    )


async def send_sms(standin: Running, http: httpx.AsyncClient, delivery: str) -> SendResult:
    return await sms_provider(standin, http).send(sms(delivery))


async def test_sms_faults_read_as_retryable_or_unknown_and_taken_ones_are_found(
    standin: Running, http: httpx.AsyncClient
) -> None:
    provider = sms_provider(standin, http)
    await standin.fault(channel="sms", mode="429", count=1, retry_after=7)
    limited = await provider.send(sms("a" * 32))
    assert limited.outcome == Outcome.retryable and limited.retry_after == 7

    await standin.fault(channel="sms", mode="cut", count=2, taken="alternate")
    cut_taken = await provider.send(sms("b" * 32))
    cut_lost = await provider.send(sms("c" * 32))
    assert (cut_taken.outcome, cut_lost.outcome) == (Outcome.unknown, Outcome.unknown)
    assert (await provider.lookup(sms("b" * 32))).state == Found.found
    assert (await provider.lookup(sms("c" * 32))).state == Found.absent

    await standin.fault(channel="sms", mode="400", count=1)
    refused = await provider.send(sms("f" * 32))
    assert refused.outcome == Outcome.permanent and refused.error_code == "21211"

    await standin.fault(channel="sms", mode="503", count=1, taken="no")
    assert (await provider.send(sms("d" * 32))).outcome == Outcome.unknown
    await standin.fault(channel="sms", mode="hang", count=1, taken="yes")
    hung = await provider.send(sms("e" * 32))
    assert hung.outcome == Outcome.unknown and "ReadTimeout" in (hung.error or "")

    counts = (await standin.control.get("/counts")).json()["sms"]
    assert counts["taken"] == 2  # the cut one taken, and the hung one
    assert counts["faults"] == {"429": 1, "cut": 2, "400": 1, "503": 1, "hang": 1}


async def test_a_refused_channel_refuses_connections_until_it_opens_again(
    standin: Running, http: httpx.AsyncClient
) -> None:
    await standin.fault(channel="sms", mode="refuse", seconds=0.5)
    refused = await send_sms(standin, http, "a" * 32)
    assert refused.outcome == Outcome.retryable and "ConnectError" in (refused.error or "")
    assert await standin.arrivals("sms") == []

    await asyncio.sleep(1.0)  # the socket opens again after the half second asked for
    assert (await send_sms(standin, http, "a" * 32)).outcome == Outcome.sent
    [arrival] = await standin.arrivals("sms")
    assert arrival["key"] == "a" * 32 and arrival["tags"] == [TAG] and arrival["taken"]


async def test_a_line_push_taken_before_a_cut_answer_is_answered_409_when_pushed_again(
    standin: Running, http: httpx.AsyncClient
) -> None:
    provider = LineProvider(
        api_base=standin.base("line"), secrets=DictSecrets({"line": "t"}), http_client=http
    )
    message = make_chat_message(channel=Channel.line, to="U" + "0" * 32, options={"secret": "line"})
    await standin.fault(channel="line", mode="cut", count=1, taken="yes")
    assert (await provider.send(message)).outcome == Outcome.unknown
    assert (await provider.send(message)).outcome == Outcome.sent

    statuses = [(a["fault"], a["taken"], a["status"]) for a in await standin.arrivals("line")]
    assert statuses == [("cut", True, None), (None, False, 409)]


async def test_a_slack_post_taken_before_a_500_is_found_by_its_metadata(
    standin: Running, http: httpx.AsyncClient
) -> None:
    provider = SlackProvider(
        api_base=f"{standin.base('slack')}/api",
        secrets=DictSecrets({"slack": "xoxb-1"}),
        http_client=http,
    )
    message = make_chat_message(channel=Channel.slack, to="C0123ABCD", options={"secret": "slack"})
    await standin.fault(channel="slack", mode="500", count=1, taken="yes")
    assert (await provider.send(message)).outcome == Outcome.unknown
    assert (await provider.lookup(message)).state == Found.found


async def test_a_cut_webhook_answer_reads_as_unknown_though_its_status_has_no_body(
    standin: Running, http: httpx.AsyncClient
) -> None:
    provider = WebhookProvider(
        secrets=DictSecrets({"hook": "whsec_" + "a2V5a2V5a2V5a2V5a2V5a2V5"}), http_client=http
    )
    message = make_chat_message(
        channel=Channel.webhook,
        to=f"{standin.base('webhook')}/hooks/crm",
        options={"secret": "hook"},
    )
    await standin.fault(channel="webhook", mode="cut", count=1, taken="yes")

    assert (await provider.send(message)).outcome == Outcome.unknown
    assert (await provider.send(message)).outcome == Outcome.sent
    arrivals = [(a["fault"], a["taken"], a["key"]) for a in await standin.arrivals("webhook")]
    assert arrivals == [("cut", True, f"msg_{'d' * 32}"), (None, True, f"msg_{'d' * 32}")]


@pytest.mark.parametrize(
    ("mode", "outcome", "code"),
    [
        ("421", Outcome.retryable, "421"),
        ("451", Outcome.retryable, "451"),
        ("550", Outcome.permanent, "550"),
        ("drop", Outcome.unknown, None),
        ("hang", Outcome.unknown, None),
    ],
)
async def test_smtp_faults_read_as_the_email_provider_sorts_them(
    standin: Running, mode: str, outcome: Outcome, code: str | None
) -> None:
    provider = SmtpEmailProvider(
        host="127.0.0.1", port=standin.ports["email"], tls="none", timeout=TIMEOUT
    )
    message = make_outgoing_message(
        channel=Channel.email, to="sato@example.jp", subject=f"{TAG} 苦情", text="本文"
    )
    await standin.fault(channel="email", mode=mode, count=1, taken="yes")

    result = await provider.send(message)

    assert result.outcome == outcome and result.error_code == code
    assert (await provider.send(message)).outcome == Outcome.sent
    arrivals = [(a["fault"], a["taken"]) for a in await standin.arrivals("email")]
    first = (mode, mode in ("drop", "hang"))
    assert arrivals == [first, (None, True)]
    assert (await standin.arrivals("email"))[-1]["tags"] == [TAG]
