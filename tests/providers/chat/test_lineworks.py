"""LINE WORKS provider: our requests against the Bot API 2.0's documented format and answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.channels import Channel
from service.clock import ManualClock
from service.providers.base import (
    ChatEvent,
    ChatPayload,
    Found,
    Outcome,
    OutgoingMessage,
)
from service.providers.chat import CHAT_PREVIEWS, CHAT_PROVIDERS
from service.providers.chat.lineworks import LineWorksProvider, lineworks_preview
from service.settings import Settings
from tests.chat import destination
from tests.providers.chat.support import DictSecrets, make_chat_message
from tests.providers.chat.support import make_line_card as make_card

API = "https://lineworks.test/v1.0"
AUTH_URL = "https://auth.lineworks.test/oauth2/v2.0/token"
CHANNEL_URL = f"{API}/bots/2000001/channels/a1b2c3d4-channel/messages"
CLIENT_SECRET = "client-secret-value"
ACK_TOKEN = "ack-token.signed"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _private_key()
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def lineworks_secrets(**overrides: str | None) -> dict[str, str | None]:
    """The stored secrets the test destination names, by name."""
    values: dict[str, str | None] = {
        "sakura-lineworks-key": PRIVATE_PEM,
        "sakura-lineworks-client": CLIENT_SECRET,
        "sakura-lineworks-bot": "bot-secret-value",
    }
    values.update(overrides)
    return values


def make_message(*, to: str = "channel:a1b2c3d4-channel", **options: Any) -> OutgoingMessage:
    dest = destination("lineworks")
    dest_options = {k: v for k, v in dest.items() if k not in ("key", "name", "fallback")}
    dest_options.update(options)
    return make_chat_message(
        channel=Channel.lineworks, to=to, options=dest_options, card=make_card()
    )


def token_answer(token: str = "access-1", expires_in: str = "86400") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "access_token": token,
            "refresh_token": "refresh",
            "scope": "bot",
            "token_type": "Bearer",
            "expires_in": expires_in,
        },
    )


@pytest.fixture
def lineworks() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets(lineworks_secrets())


@pytest.fixture
async def provider(secrets: DictSecrets) -> Any:
    made = LineWorksProvider(api_base=API, auth_url=AUTH_URL, secrets=secrets)
    yield made
    await made.aclose()


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


async def test_a_card_goes_to_the_channel_as_a_flexible_template_with_a_postback(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    auth = lineworks.post(AUTH_URL).mock(return_value=token_answer("access-1"))
    post = lineworks.post(CHANNEL_URL).mock(return_value=httpx.Response(201))

    result = await provider.send(make_message())

    assert result.outcome == Outcome.sent
    assert result.provider_id is not None and result.provider_id.startswith("local-")
    form = _form(auth.calls.last.request)
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert form["client_id"] == "client-abc"
    assert form["client_secret"] == CLIENT_SECRET
    assert form["scope"] == "bot"
    # The test clock is not the system's: the signature is checked, the times against it.
    claims = jwt.decode(
        form["assertion"],
        PUBLIC_PEM,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == "client-abc"
    assert claims["sub"] == "abc.serviceaccount@sakura.example"
    assert claims["iat"] == int(clock.now().timestamp())
    assert 0 < claims["exp"] - claims["iat"] <= 60 * 60

    request = post.calls.last.request
    assert request.headers["authorization"] == "Bearer access-1"
    assert request.headers["content-type"] == "application/json"
    content = json.loads(request.content)["content"]
    assert content["type"] == "flex"
    assert content["altText"].startswith("さくら歯科: 予約時間の行き違い")
    assert len(content["altText"]) <= 400
    bubble = content["contents"]
    assert bubble["type"] == "bubble"
    words = json.dumps(bubble, ensure_ascii=False)
    for text in ("予約時間の行き違い", "山田 太郎", "本日15時の予約", "確認コード: 4821"):
        assert text in words
    actions = [item["action"] for item in bubble["footer"]["contents"]]
    assert actions[0] == {
        "type": "postback",
        "label": "確認しました",
        "data": ACK_TOKEN,
        "displayText": "確認しました",
    }
    assert actions[1] == {
        "type": "uri",
        "label": "メモを開く",
        "uri": "https://relay.example.jp/a/ack-token.signed",
    }


async def test_a_user_destination_is_posted_to_the_user(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    post = lineworks.post(f"{API}/bots/2000001/users/sato%40sakura.example/messages").mock(
        return_value=httpx.Response(201)
    )

    result = await provider.send(make_message(to="user:sato@sakura.example"))

    assert result.outcome == Outcome.sent
    assert post.call_count == 1


async def test_the_token_is_kept_until_shortly_before_it_expires(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    auth = lineworks.post(AUTH_URL).mock(
        side_effect=[token_answer("access-1", "3600"), token_answer("access-2", "3600")]
    )
    post = lineworks.post(CHANNEL_URL).mock(return_value=httpx.Response(201))

    await provider.send(make_message())
    clock.advance(timedelta(minutes=50))
    await provider.send(make_message())
    assert auth.call_count == 1
    assert post.calls[1].request.headers["authorization"] == "Bearer access-1"

    clock.advance(timedelta(minutes=6))  # within the last minutes of its hour
    await provider.send(make_message())
    assert auth.call_count == 2
    assert post.calls[2].request.headers["authorization"] == "Bearer access-2"


async def test_a_rotated_secret_is_used_from_the_next_message_on(
    provider: LineWorksProvider,
    secrets: DictSecrets,
    lineworks: respx.MockRouter,
    clock: ManualClock,
) -> None:
    auth = lineworks.post(AUTH_URL).mock(
        side_effect=[token_answer("access-1"), token_answer("access-2")]
    )
    lineworks.post(CHANNEL_URL).mock(return_value=httpx.Response(201))
    await provider.send(make_message())

    secrets.values["sakura-lineworks-client"] = "rotated-client-secret"
    await provider.send(make_message())

    assert auth.call_count == 2
    assert _form(auth.calls.last.request)["client_secret"] == "rotated-client-secret"


async def test_a_401_drops_a_kept_token_and_the_next_attempt_authenticates_again(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    auth = lineworks.post(AUTH_URL).mock(
        side_effect=[token_answer("access-1"), token_answer("access-2")]
    )
    post = lineworks.post(CHANNEL_URL).mock(
        side_effect=[
            httpx.Response(201),
            httpx.Response(401, json={"code": "UNAUTHORIZED", "description": "token expired"}),
            httpx.Response(201),
        ]
    )
    await provider.send(make_message())

    refused = await provider.send(make_message())
    assert refused.outcome == Outcome.retryable
    assert refused.error_code == "UNAUTHORIZED"
    assert "token expired" in (refused.error or "")

    again = await provider.send(make_message())
    assert again.outcome == Outcome.sent
    assert auth.call_count == 2
    assert post.calls.last.request.headers["authorization"] == "Bearer access-2"


async def test_a_401_to_a_token_just_issued_fails_for_good(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    lineworks.post(CHANNEL_URL).mock(
        return_value=httpx.Response(401, json={"code": "UNAUTHORIZED", "description": "no"})
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent


async def test_429_is_retried_after_the_time_asked(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    lineworks.post(CHANNEL_URL).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "30"},
            json={"code": "TOO_MANY_REQUESTS", "description": "Too many requests"},
        )
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable
    assert result.retry_after == 30
    assert result.error_code == "TOO_MANY_REQUESTS"


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_a_refused_message_fails_for_good(
    status: int, provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    lineworks.post(CHANNEL_URL).mock(
        return_value=httpx.Response(
            status, json={"code": "RESOURCE_NOT_FOUND", "description": "channel not found"}
        )
    )

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent
    assert result.error_code == "RESOURCE_NOT_FOUND"
    assert f"HTTP {status}" in (result.error or "")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"code": "INTERNAL_SERVER_ERROR"}),
        httpx.Response(503, text="unavailable"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=["500", "503", "read-timeout", "dropped"],
)
async def test_an_answer_that_may_follow_a_post_is_unknown(
    answer: Any, provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    post = lineworks.post(CHANNEL_URL).mock(side_effect=[answer])

    result = await provider.send(make_message())

    assert result.outcome == Outcome.unknown
    assert post.call_count == 1


async def test_no_connection_is_retryable(
    provider: LineWorksProvider, lineworks: respx.MockRouter, clock: ManualClock
) -> None:
    lineworks.post(AUTH_URL).mock(return_value=token_answer())
    lineworks.post(CHANNEL_URL).mock(side_effect=httpx.ConnectError("refused"))

    result = await provider.send(make_message())

    assert result.outcome == Outcome.retryable


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (httpx.Response(429, headers={"Retry-After": "12"}), Outcome.retryable),
        (httpx.Response(500), Outcome.retryable),
        (httpx.ReadTimeout("read timed out"), Outcome.retryable),
        (
            httpx.Response(
                401, json={"error": "invalid_client", "error_description": "bad client"}
            ),
            Outcome.permanent,
        ),
        (httpx.Response(400, json={"error": "invalid_grant"}), Outcome.permanent),
    ],
    ids=["429", "500", "timeout", "invalid-client", "invalid-grant"],
)
async def test_a_token_that_cannot_be_had_posts_nothing(
    answer: Any,
    outcome: Outcome,
    provider: LineWorksProvider,
    lineworks: respx.MockRouter,
    clock: ManualClock,
) -> None:
    lineworks.post(AUTH_URL).mock(side_effect=[answer])
    post = lineworks.post(CHANNEL_URL).mock(return_value=httpx.Response(201))

    result = await provider.send(make_message())

    assert result.outcome == outcome
    assert post.call_count == 0
    if isinstance(answer, httpx.Response) and answer.status_code == 429:
        assert result.retry_after == 12


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("sakura-lineworks-key", None, "secret 'sakura-lineworks-key' is not set"),
        ("sakura-lineworks-client", None, "secret 'sakura-lineworks-client' is not set"),
        ("sakura-lineworks-key", "not a key", "not an RSA key in PEM"),
    ],
)
async def test_missing_or_unusable_credentials_fail_for_good_without_a_request(
    name: str,
    value: str | None,
    words: str,
    provider: LineWorksProvider,
    secrets: DictSecrets,
    lineworks: respx.MockRouter,
    clock: ManualClock,
) -> None:
    secrets.values[name] = value
    auth = lineworks.post(AUTH_URL).mock(return_value=token_answer())

    result = await provider.send(make_message())

    assert result.outcome == Outcome.permanent
    assert words in (result.error or "")
    assert auth.call_count == 0
    assert "not a key" not in (result.error or "")


async def test_an_unknown_outcome_is_never_guessed(provider: LineWorksProvider) -> None:
    found = await provider.lookup(make_message())

    assert found.state == Found.unclear


def test_the_preview_is_the_request_without_credentials() -> None:
    message = make_message()
    preview = lineworks_preview(message)

    assert preview["content"]["type"] == "flex"
    words = json.dumps(preview)
    for secret in (PRIVATE_PEM, CLIENT_SECRET, "bot-secret-value", "sakura-lineworks"):
        assert secret not in words
    assert CHAT_PREVIEWS[Channel.lineworks] is lineworks_preview


def test_an_acknowledged_card_shows_who_in_place_of_the_buttons() -> None:
    message = make_message()
    assert message.chat is not None
    seen = message.chat.card.seen(by="佐藤", at="10:42")
    content = lineworks_preview(
        OutgoingMessage(
            delivery_id=message.delivery_id,
            channel=message.channel,
            to=message.to,
            text=seen.text,
            chat=ChatPayload(
                event=ChatEvent.acknowledged, card=seen, options=message.chat.options, memo={}
            ),
        )
    )["content"]

    footer = json.dumps(content["contents"]["footer"], ensure_ascii=False)
    assert "佐藤" in footer and "postback" not in footer


async def test_live_chat_settings_build_the_lineworks_provider(settings: Settings) -> None:
    live = settings.model_copy(
        update={"chat_delivery": "live", "lineworks_api_base": API, "lineworks_auth_url": AUTH_URL}
    )
    built = CHAT_PROVIDERS[Channel.lineworks](
        settings=live, secrets=DictSecrets({}), http_client=None
    )

    assert isinstance(built, LineWorksProvider)
    assert built.api_base == API and built.auth_url == AUTH_URL
    await built.aclose()
