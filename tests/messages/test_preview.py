"""The sample memo and its preview on every channel, as a delivery would be written."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.companies.config import CompanyConfig
from service.companies.validation import validate_document
from service.messages.preview import Preview, preview_messages, sample_memo
from service.messages.sms import count_sms
from tests.factories import company_document

ACK_URL = "https://relay.example.jp/a/" + "x" * 60
MOMENT = datetime(2026, 4, 1, 14, 5, tzinfo=ZoneInfo("Asia/Tokyo"))


def _config(**overrides: Any) -> CompanyConfig:
    return validate_document(company_document(**overrides))


def _preview(config: CompanyConfig, **given: Any) -> Preview:
    return preview_messages(
        memo=sample_memo(config=config, given=given),
        company_name=config.name,
        config=config,
        contact_name="佐藤 院長",
        ack_url=ACK_URL,
        received_at_local=MOMENT,
        operator_name="鈴木",
    )


def test_the_sample_memo_speaks_the_companys_language() -> None:
    japanese = sample_memo(config=_config())
    english = sample_memo(config=_config(locale="en"))

    assert (japanese.caller_name, japanese.subject) == ("山田 太郎", "予約時間の行き違い")
    assert (english.caller_name, english.subject) == (
        "Taro Yamada",
        "Mix-up over an appointment time",
    )
    # Each of the company's own fields shows an example value.
    assert japanese.fields == {"patient_no": "（例）"}


def test_given_memo_fields_replace_the_samples() -> None:
    memo = sample_memo(
        config=_config(),
        given={"urgency": "normal", "caller": {"name": "鈴木"}, "fields": {"patient_no": "9"}},
    )

    assert (memo.urgency, memo.caller_name, memo.fields) == ("normal", "鈴木", {"patient_no": "9"})
    assert memo.subject == "予約時間の行き違い"


def test_every_channel_is_rendered_with_the_link_and_counted() -> None:
    preview = _preview(_config())

    assert ACK_URL in preview.email.text
    assert ACK_URL in preview.email.html
    assert ACK_URL in preview.sms.text
    assert "予約時間の行き違い" in preview.voice.text
    counted = count_sms(text=preview.sms.text)
    assert (preview.sms.encoding, preview.sms.segments, preview.sms.units) == (
        "UCS-2",
        counted.segments,
        counted.units,
    )


def test_a_long_japanese_memo_is_ucs2_within_three_segments() -> None:
    preview = _preview(_config(), body="至急お電話ください。" * 60)

    assert preview.sms.encoding == "UCS-2"
    assert preview.sms.segments == 3
    assert preview.sms.units <= 3 * 67


def test_an_english_memo_in_plain_letters_is_gsm7() -> None:
    preview = _preview(
        _config(locale="en", name="Maple Law"), urgency="normal", body="Please call back."
    )

    assert preview.sms.encoding == "GSM-7"
    assert preview.sms.segments == count_sms(text=preview.sms.text).segments
