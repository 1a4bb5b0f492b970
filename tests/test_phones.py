"""Phone numbers shown as people write them, formatted once on the server."""

from __future__ import annotations

import pytest

from service.phones import display_for


@pytest.mark.parametrize(
    ("e164", "country", "shown"),
    [
        ("+819011112222", "JP", "090-1111-2222"),
        ("+81312345678", "JP", "03-1234-5678"),
        ("+81120123456", "jp", "0120-123-456"),
        ("+12125550100", "US", "(212) 555-0100"),
        ("+12125550100", "JP", "+1 212-555-0100"),
        ("+819011112222", "US", "+81 90-1111-2222"),
        ("", "JP", ""),
        (None, "JP", ""),
        ("client:alice", "JP", "client:alice"),
    ],
)
def test_a_number_is_national_at_home_and_international_abroad(
    e164: str | None, country: str, shown: str
) -> None:
    assert display_for(e164, country=country) == shown
