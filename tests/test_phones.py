"""Phone numbers read into E.164 from what people type, and shown as people write them."""

from __future__ import annotations

import pytest

from service.phones import PhoneNumberError, display_for, to_e164


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


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("090-1111-2222", "JP", "+819011112222"),
        ("０９０－１１１１－２２２２", "JP", "+819011112222"),  # typed with a Japanese IME
        (" 03-1234-5678 ", "JP", "+81312345678"),
        ("+1 212-555-0100", "JP", "+12125550100"),
        ("(212) 555-0100", "us", "+12125550100"),
    ],
)
def test_what_people_type_is_read_as_e164_in_the_company_s_country(
    raw: str, country: str, e164: str
) -> None:
    assert to_e164(raw, country=country) == e164


@pytest.mark.parametrize("raw", ["", "abc", "090-1111", "+1 000"])
def test_text_that_is_no_number_in_use_is_refused(raw: str) -> None:
    with pytest.raises(PhoneNumberError):
        to_e164(raw)


def test_a_domestic_form_is_read_in_japan_unless_told_otherwise() -> None:
    assert to_e164("03-1234-5678") == "+81312345678"
    with pytest.raises(PhoneNumberError):
        to_e164("03-1234-5678", country="US")
