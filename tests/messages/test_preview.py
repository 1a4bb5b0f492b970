"""The sample memo and its preview on every channel, as a delivery would be written."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.companies.config import CompanyConfig
from service.companies.validation import validate_document
from service.messages.preview import ChatTo, Preview, preview_messages, sample_memo
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


def test_each_chat_destination_gets_its_card_from_the_same_sample() -> None:
    config = _config()
    destinations = [
        ChatTo(
            key="support-room",
            label="サポート室",
            kind="chatwork",
            ack_url=ACK_URL + "-room",
            ack_value="token-room",
            mentions=["1234567"],
        ),
        ChatTo(key="ops", label="ops", kind="slack", ack_url=ACK_URL, ack_value="token-ops"),
    ]

    preview = preview_messages(
        memo=sample_memo(config=config, given={"body": "折り返し希望。"}),
        company_name=config.name,
        config=config,
        contact_name="佐藤 院長",
        ack_url=ACK_URL,
        received_at_local=MOMENT,
        operator_name="鈴木",
        destinations=destinations,
    )

    room, ops = preview.chat
    assert (room.key, room.label, room.kind) == ("support-room", "サポート室", "chatwork")
    assert room.card.title == "【至急】さくら歯科クリニック: 予約時間の行き違い"
    assert ("お客様", "山田 太郎") in room.card.facts
    assert ("診察券番号", "（例）") in room.card.facts
    assert room.card.summary == "折り返し希望。"
    assert (room.card.code, room.card.ack_label) == ("4821", "確認しました")
    assert room.card.ack_url == ACK_URL + "-room" and room.card.ack_value == "token-room"
    assert room.card.mentions == ["1234567"]
    assert (ops.card.ack_value, ops.card.mentions) == ("token-ops", [])
    # Without destinations the preview has no cards.
    assert _preview(config).chat == []
