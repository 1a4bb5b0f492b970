"""reader_locale(request): the company's language where a route chose it, else the user's, else the browser's."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from service.http_deps import reader_locale


def _request(accept_language: str | None = None, **state: object) -> Request:
    headers = [] if accept_language is None else [(b"accept-language", accept_language.encode())]
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers})
    for name, value in state.items():
        setattr(request.state, name, value)
    return request


def test_the_browser_decides_when_nobody_else_has() -> None:
    assert reader_locale(_request("en-GB,en;q=0.9")) == "en"
    assert reader_locale(_request("ja")) == "ja"
    assert reader_locale(_request()) == "ja"


def test_the_users_own_language_wins_over_the_browser() -> None:
    assert reader_locale(_request("ja", reader_locale="en")) == "en"
    assert reader_locale(_request("en", reader_locale="ja")) == "ja"


def test_a_user_without_a_language_follows_the_browser() -> None:
    assert reader_locale(_request("en", reader_locale=None)) == "en"


def test_a_companys_language_chosen_by_the_route_wins_over_the_user() -> None:
    assert reader_locale(_request("en", locale="ja", reader_locale="en")) == "ja"


@pytest.mark.parametrize("header", ["", ";;;", "x" * 5000, "en;q=abc", "*", "ja-\x00", "é,ü;q=2"])
@pytest.mark.parametrize("stored", [None, "fr", "", 3])
def test_odd_headers_and_values_never_raise(header: str, stored: object) -> None:
    assert reader_locale(_request(header, reader_locale=stored)) in ("ja", "en")
