"""A memo formatted for email, SMS and voice, by default and by a company's overrides."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.channels import Channel
from service.companies.config import CompanyConfig, Templates
from service.companies.validation import validate_document
from service.memos.models import Memo
from service.messages.render import RenderedMessage, render_memo_message
from service.messages.sms import count_sms
from tests.factories import company_document, make_unsaved_memo

ACK_URL = "https://relay.example.jp/a/ASNFZ4mrze8BI0VniavN72gXmQ.Zm9vYmFyYmF6cXV4"
LONG_BODY = (
    "10時の予約と伺っていたが、受付では11時と言われ、結局1時間待たされた。"
    "以前にも同じことがあり、予約の管理がどうなっているのか説明してほしい。"
    "本日中に院長から折り返しのお電話をいただきたいとのこと。"
) * 5


def make_config(**overrides: Any) -> CompanyConfig:
    return validate_document(company_document(**overrides))


def message(
    channel: Channel,
    *,
    memo: Memo | None = None,
    config: CompanyConfig | None = None,
    company_name: str = "さくら歯科クリニック",
    **options: Any,
) -> RenderedMessage:
    memo = memo or make_unsaved_memo()
    return render_memo_message(
        channel=channel,
        memo=memo,
        company_name=company_name,
        config=config or make_config(),
        contact_name="佐藤 院長",
        ack_url=ACK_URL,
        received_at_local=memo.created_at.astimezone(ZoneInfo("Asia/Tokyo")),
        operator_name="鈴木",
        **options,
    )


def test_the_japanese_email_is_in_business_style_with_every_fact() -> None:
    email = message(Channel.email)

    assert email.subject == "【至急】【苦情】予約時間の行き違い（山田 太郎様より）"
    assert email.text.startswith(
        "佐藤 院長様\n\nお世話になっております。さくら歯科クリニックの電話代行でございます。\n"
        "下記のとおりお電話がございましたので、ご連絡いたします。\n"
    )
    for fact in [
        "受付日時：2025年4月1日(火) 14:05",
        "お客様名：山田 太郎様",
        "ご連絡先：090-1111-2222",
        "会社名　：山田商事株式会社",
        "区分　　：苦情",
        "緊急度　：至急",
        "件名　　：予約時間の行き違い",
        "診察券番号：12345",
        "10時の予約と伺っていたが、受付では11時と言われた。\n折り返しのお電話を希望。",
        "受付担当：鈴木",
        f"下記のリンクより受領確認をお願いいたします。\n{ACK_URL}\n確認コード：4821",
        "何卒よろしくお願い申し上げます。",
    ]:
        assert fact in email.text


def test_a_sparse_memo_says_what_was_not_given() -> None:
    memo = make_unsaved_memo(
        urgency="normal", category="inquiry", caller_name="", caller_phone=None,
        caller_company=None, fields={}, body="",
    )  # fmt: skip

    email = message(Channel.email, memo=memo)

    assert email.subject == "【お問い合わせ】予約時間の行き違い"
    assert "お客様名：（お名前は伺えませんでした）" in email.text
    assert "会社名" not in email.text and "診察券番号" not in email.text
    assert "至急" not in email.text


def test_the_english_email_has_every_fact() -> None:
    config = make_config(locale="en")
    memo = make_unsaved_memo(caller_name="John Smith", subject="Missed appointment")

    email = message(Channel.email, memo=memo, config=config)

    assert email.subject == "[URGENT] [Complaint] Missed appointment (from John Smith)"
    assert email.text.startswith("Dear 佐藤 院長,\n\nThis is the answering service for")
    for fact in [
        "Received:  Tue, Apr 1, 2025 14:05",
        "Caller:    John Smith",
        "Call back: 090-1111-2222",
        "Company:   山田商事株式会社",
        "Category:  Complaint",
        "Urgency:   Urgent",
        "診察券番号: 12345",
        f"{ACK_URL}\nConfirmation code: 4821",
    ]:
        assert fact in email.text


def test_the_html_email_escapes_what_the_caller_said() -> None:
    memo = make_unsaved_memo(
        caller_name="<b>山田</b>", body="<script>alert('x')</script>\n二行目 & 三行目"
    )

    html = message(Channel.email, memo=memo).html

    assert html is not None
    assert "<script>" not in html and "<b>山田" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;<br>二行目 &amp; 三行目" in html
    assert f'href="{ACK_URL}"' in html
    assert 'href="tel:+819011112222"' in html
    assert "<th" in html and "診察券番号" in html


def test_a_caller_from_abroad_is_shown_in_international_form() -> None:
    email = message(Channel.email, memo=make_unsaved_memo(caller_phone="+12015550123"))

    assert "ご連絡先：+1 201-555-0123" in email.text


def test_custom_field_values_are_written_out() -> None:
    config = make_config(
        fields=[
            {"key": "patient_no", "label": "診察券番号"},
            {"key": "first_visit", "label": "初診"},
            {"key": "note", "label": "備考"},
        ]
    )
    memo = make_unsaved_memo(fields={"first_visit": True, "patient_no": 12345, "note": ""})

    text = message(Channel.email, memo=memo, config=config).text

    assert "診察券番号：12345\n初診：はい\n" in text
    assert "備考" not in text


def test_a_short_sms_keeps_the_whole_memo() -> None:
    sms = message(Channel.sms)

    assert sms.text == (
        "【至急】さくら歯科クリニック\n苦情 山田 太郎様 090-1111-2222\n「予約時間の行き違い」\n"
        "10時の予約と伺っていたが、受付では11時と言われた。 折り返しのお電話を希望。\n"
        f"確認コード 4821\n{ACK_URL}"
    )
    assert (sms.subject, sms.html) == ("", None)


def test_a_long_japanese_sms_is_shortened_to_the_budget_keeping_link_and_code() -> None:
    sms = message(Channel.sms, memo=make_unsaved_memo(body=LONG_BODY)).text

    counted = count_sms(text=sms)
    assert counted.encoding == "UCS-2"
    assert counted.segments <= 3
    assert counted.units > 180  # the details were trimmed, not thrown away
    assert sms.endswith(f"確認コード 4821\n{ACK_URL}")
    assert "10時の予約と伺っていたが" in sms
    assert "…\n確認コード" in sms


def test_a_smaller_budget_drops_the_details_but_never_the_link() -> None:
    sms = message(Channel.sms, memo=make_unsaved_memo(body=LONG_BODY), sms_segment_budget=2).text

    assert count_sms(text=sms).segments <= 2
    assert ACK_URL in sms and "4821" in sms


def test_a_one_segment_budget_still_holds_the_code_and_the_link() -> None:
    sms = message(Channel.sms, sms_segment_budget=1).text

    assert sms == f"4821\n{ACK_URL}"
    assert count_sms(text=sms).segments == 1


def test_when_nothing_else_fits_only_code_and_link_remain() -> None:
    memo = make_unsaved_memo(subject="予約" * 100, body=LONG_BODY)

    sms = message(Channel.sms, memo=memo, sms_segment_budget=2).text

    assert sms == f"【至急】さくら歯科クリニック\n確認コード 4821\n{ACK_URL}"


def test_an_english_sms_stays_gsm7_when_it_is_trimmed() -> None:
    memo = make_unsaved_memo(
        caller_name="John Smith", caller_company=None, subject="Missed appointment",
        body="The caller waited an hour past the booked time. " * 20,
    )  # fmt: skip

    config = make_config(locale="en")

    sms = message(Channel.sms, memo=memo, config=config, company_name="Sakura Dental").text

    counted = count_sms(text=sms)
    assert counted.encoding == "GSM-7"
    assert counted.units > 300 and counted.segments == 3
    assert sms.startswith("[URGENT] Sakura Dental\nComplaint from John Smith, 090-1111-2222\n")
    assert sms.endswith(f"...\nCode 4821\n{ACK_URL}")


def test_the_japanese_voice_summary_is_spoken_words_without_the_link() -> None:
    voice = message(Channel.voice)

    assert voice.text.startswith("佐藤 院長様。さくら歯科クリニックの電話代行でございます。")
    for words in [
        "至急のご伝言",
        "山田 太郎様から、苦情のお電話",
        "予約時間の行き違い",
        "1を",
        "2を",
    ]:
        assert words in voice.text
    assert "http" not in voice.text and "10時の予約" not in voice.text


def test_the_english_voice_summary() -> None:
    memo = make_unsaved_memo(caller_name="John Smith", subject="Missed appointment")

    voice = message(Channel.voice, memo=memo, config=make_config(locale="en")).text

    assert "You have an urgent message." in voice
    assert "Complaint, from John Smith." in voice
    assert "Press 1 to acknowledge" in voice and "2 to hear it again" in voice
    assert "http" not in voice


def test_overrides_replace_the_defaults_part_by_part() -> None:
    config = make_config(
        templates={
            "email_subject": "{{ company }}: {{ category_label }} {{ memo.subject }}",
            "email_text": "{{ contact_name }}様\n{{ body }}\n確認: {{ ack_url }}",
            "sms": "{{ subject }} / {% for label, value in fields %}{{ label }}{{ value }}"
            "{% endfor %} {{ ack_code }} {{ ack_url }}",
        }
    )

    email = message(Channel.email, config=config)
    sms = message(Channel.sms, config=config)

    assert email.subject == "さくら歯科クリニック: 苦情 予約時間の行き違い"
    assert email.text.startswith("佐藤 院長様\n10時の予約と伺っていたが")
    assert email.text.endswith(f"確認: {ACK_URL}\n")
    assert email.html is not None and "<table" in email.html  # not overridden: the default
    assert sms.text == f"予約時間の行き違い / 診察券番号12345 4821 {ACK_URL}"


def test_an_override_that_leaves_out_the_link_gets_it_added() -> None:
    config = make_config(
        templates={
            "email_text": "{{ subject }}",
            "email_html": "<html><body><p>{{ subject }}</p></body></html>",
            "sms": "{{ company }}: {{ subject }}",
        }
    )

    email = message(Channel.email, config=config)
    sms = message(Channel.sms, config=config)

    assert email.text == f"予約時間の行き違い\n\n受領確認はこちら\n{ACK_URL}\n確認コード: 4821\n"
    assert email.html == (
        f'<html><body><p>予約時間の行き違い</p><p><a href="{ACK_URL}">受領確認はこちら</a>'
        "<br>確認コード: 4821</p>\n</body></html>"
    )
    assert sms.text == f"さくら歯科クリニック: 予約時間の行き違い\n確認コード 4821\n{ACK_URL}"


def test_an_html_override_is_autoescaped() -> None:
    config = make_config(
        templates={"email_html": "<p>{{ body }}</p><a href='{{ ack_url }}'>ok</a>"}
    )

    html = message(Channel.email, config=config, memo=make_unsaved_memo(body="<img src=x>")).html

    assert html == f"<p>&lt;img src=x&gt;</p><a href='{ACK_URL}'>ok</a>"


def test_an_override_that_fails_on_a_real_memo_gives_way_to_the_default() -> None:
    # Fine on the short sample memo, but ten copies of a 60,000-character body is too much.
    config = make_config(templates={"email_text": "{{ body * 10 }}"})

    email = message(Channel.email, config=config, memo=make_unsaved_memo(body="あ" * 60_000))

    assert email.text.startswith("佐藤 院長様\n\nお世話になっております。")


def test_line_breaks_in_the_memo_never_reach_the_subject() -> None:
    memo = make_unsaved_memo(
        subject="予約の件\r\nBcc: victim@example.com", caller_name="山田\n太郎"
    )

    email = message(Channel.email, memo=memo)

    assert email.subject == "【至急】【苦情】予約の件 Bcc: victim@example.com（山田 太郎様より）"


def test_a_stored_subject_template_that_breaks_the_line_is_folded_when_sending() -> None:
    # Saving refuses such a template; one stored before that rule still sends, on one line.
    config = make_config()
    config = config.model_copy(
        update={
            "templates": Templates.model_construct(
                email_subject='{{ subject }}{{ "\\r\\n" }}X{{ "\\u2028\\x1c" }}Y'
            )
        }
    )

    assert message(Channel.email, config=config).subject == "予約時間の行き違い X Y"


@pytest.mark.parametrize(
    "char", ["\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\x7f"]
)
def test_characters_the_mail_library_refuses_never_reach_the_subject(char: str) -> None:
    # A memo stored before intake folded them: the subject is folded when it is rendered.
    memo = make_unsaved_memo(subject=f"予約{char}の件", caller_name=f"山田{char}太郎")

    subject = message(Channel.email, memo=memo).subject

    assert subject == "【至急】【苦情】予約 の件（山田 太郎様より）"
    assert len(subject.splitlines()) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.text(st.characters(exclude_categories=["Cs"]), max_size=600),
    subject=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    budget=st.integers(min_value=1, max_value=4),
)
def test_any_sms_keeps_its_link_and_code_within_the_budget_when_it_can(
    body: str, subject: str, budget: int
) -> None:
    memo = make_unsaved_memo(body=body, subject=subject)

    sms = message(Channel.sms, memo=memo, sms_segment_budget=budget).text

    assert sms.endswith(f"4821\n{ACK_URL}")
    assert count_sms(text=sms).segments <= budget


def test_an_english_company_gets_no_japanese_in_email_sms_or_voice() -> None:
    from tests.i18n.japanese import japanese_in

    config = make_config(
        locale="en",
        fields=[
            {"key": "matter", "label": "Matter number", "required": False},
            {"key": "retainer", "label": "On retainer", "required": False},
        ],
        script=[{"ask": "What is the matter number?", "field": "matter"}],
    )
    memo = make_unsaved_memo(
        caller_name="Jane Roe",
        caller_phone="+12025550188",
        caller_company="Roe Holdings",
        subject="Deposition moved",
        body="The deposition moved to Thursday.\nPlease call back before noon.",
        fields={"matter": "M-7", "retainer": True},
    )

    rendered = [
        render_memo_message(
            channel=channel,
            memo=memo,
            company_name="Maple Law",
            config=config,
            contact_name="Front desk",
            ack_url=ACK_URL,
            received_at_local=memo.created_at.astimezone(ZoneInfo("America/New_York")),
            operator_name="Kate",
        )
        for channel in (Channel.email, Channel.sms, Channel.voice)
    ]

    email, sms, voice = rendered
    for text in (email.subject, email.text, email.html or "", sms.text, voice.text):
        assert japanese_in(text) == []
    assert "Dear Front desk," in email.text and "On retainer: Yes" in email.text
    assert "Received:  Tue, Apr 1, 2025 01:05" in email.text
    assert "Deposition moved" in sms.text and "Code 4821" in sms.text


def test_the_words_relay_adds_to_an_override_follow_the_company_language() -> None:
    english = make_config(locale="en", templates={"email_text": "{{ subject }}"})
    japanese = make_config(templates={"email_text": "{{ subject }}"})

    added_en = message(Channel.email, config=english).text
    added_ja = message(Channel.email, config=japanese).text

    assert added_en.endswith(f"Please confirm receipt\n{ACK_URL}\nCode: 4821\n")
    assert added_ja.endswith(f"受領確認はこちら\n{ACK_URL}\n確認コード: 4821\n")
