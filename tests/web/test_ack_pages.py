"""The acknowledgement link /a/<token>: the memo on a phone, one button, no sign-in, and in one
language: the company's, whatever the reader's browser says."""

from __future__ import annotations

import base64
import string
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from service.auth.models import User
from service.clock import ManualClock
from service.companies.models import Company
from service.memos.ack_links import make_ack_token
from service.memos.models import Memo, MemoStatus
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import login, make_client_user, make_english_company
from tests.i18n.japanese import japanese_in

PASSWORD = "correct horse battery"
B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def token_for(settings: Settings, memo_id: str, contact_key: str = "director") -> str:
    return make_ack_token(secret=settings.secret(), memo_id=memo_id, contact_key=contact_key)


def fresh(session: Session, memo: Memo) -> Memo:
    found = session.get(Memo, memo.id, populate_existing=True)
    assert found is not None
    session.commit()  # end the read, so the app may write next
    return found


def assert_private(response: Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_link_shows_the_memo_readably_on_a_phone(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator, urgency="urgent", fields={"patient_no": "A-1234"})

    page = client.get(f"/a/{token_for(settings, memo.id)}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_private(page)
    text = page.text
    assert 'name="viewport"' in text
    assert "さくら歯科クリニック — 佐藤 院長様" in text
    assert "予約時間の行き違い" in text
    assert "本日15時の予約が入っていなかった。至急折り返しを希望。" in text
    assert "山田 太郎" in text
    assert '<a class="tel" href="tel:+819011112222">090-1111-2222</a>' in text
    assert "苦情" in text and "至急" in text
    assert "2026年1月5日(月) 09:00" in text  # 00:00 UTC in the company's zone (Asia/Tokyo)
    assert "<dt>診察券番号</dt><dd>A-1234</dd>" in text
    assert '<div class="ack-page" lang="ja">' in text
    # One button, posting back to the same URL, with no other field (the token is the key).
    assert '<form method="post">' in text
    assert "内容を確認しました</button>" in text
    assert "csrf_token" not in text
    assert fresh(session, memo).acknowledged_at is None  # opening the link confirms nothing


def test_post_acknowledges_for_the_contact_and_a_second_post_changes_nothing(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = f"/a/{token_for(settings, memo.id)}"
    clock.advance(timedelta(minutes=7))

    done = client.post(url)

    assert done.status_code == 200
    assert_private(done)
    assert "確認しました。ありがとうございます。" in done.text
    acked = fresh(session, memo)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_via) == (
        MemoStatus.acknowledged,
        "director",
        "link",
    )
    assert acked.acknowledged_at == memo.created_at + timedelta(minutes=7)

    clock.advance(timedelta(minutes=5))
    again = client.post(url)

    assert again.status_code == 200
    assert "この伝言はすでに確認されています。" in again.text
    assert fresh(session, memo).acknowledged_at == acked.acknowledged_at


def test_used_link_shows_who_confirmed_when_and_how(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    url = f"/a/{token_for(settings, memo.id, 'office')}"
    client.post(url)

    page = client.get(url)

    assert page.status_code == 200
    assert "この伝言は確認済みです。" in page.text
    assert "2026年1月5日(月) 09:00 · 受付 · リンク" in page.text
    assert "内容を確認しました</button>" not in page.text


def test_the_post_needs_no_csrf_field_even_for_a_signed_in_browser(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    make_client_user(session, company_id=company.id, email="uketsuke@example.jp")
    assert login(client, "uketsuke@example.jp", PASSWORD).status_code == 303
    memo = take_memo(session, operator)

    done = client.post(f"/a/{token_for(settings, memo.id)}")

    assert done.status_code == 200
    assert fresh(session, memo).acknowledged_via == "link"


def _altered(token: str, position: int) -> str:
    char = token[position]
    if char == ".":
        return token[:position] + "A" + token[position + 1 :]
    # Half the alphabet away, so the top bit of the six changes and so do the decoded bytes.
    replacement = B64_ALPHABET[(B64_ALPHABET.index(char) + 32) % 64]
    return token[:position] + replacement + token[position + 1 :]


def test_any_altered_character_makes_the_link_not_found(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    token = token_for(settings, memo.id)

    for position in range(len(token)):
        altered = _altered(token, position)
        page = client.get(f"/a/{altered}")
        assert page.status_code == 404, (position, altered)
        assert page.headers["content-type"].startswith("text/html")
        assert client.post(f"/a/{altered}").status_code == 404

    assert fresh(session, memo).acknowledged_at is None


def test_another_spelling_of_the_same_bytes_is_still_an_altered_link(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo = take_memo(session, operator)
    token = token_for(settings, memo.id)
    body, _, mac = token.partition(".")
    last = B64_ALPHABET.index(body[-1])
    # Base64 has unused low bits in its last character; setting them keeps the decoded bytes.
    spare = body[:-1] + B64_ALPHABET[last ^ 1] + "." + mac
    padded = body + "=." + mac

    for altered in (spare, padded, token + ".", " " + token):
        assert client.get(f"/a/{altered}").status_code == 404, altered
        assert client.post(f"/a/{altered}").status_code == 404

    assert fresh(session, memo).acknowledged_at is None
    assert client.get(f"/a/{token}").status_code == 200


@pytest.mark.parametrize(
    "token",
    ["x", "abc.def", "!!!.@@@", "." * 10, "A" * 40, "QUJD.", ".QUJD", "A" * 500],
)
def test_malformed_tokens_get_a_friendly_404_page(client: TestClient, token: str) -> None:
    page = client.get(f"/a/{token}")

    assert page.status_code == 404
    assert "このリンクは無効です。" in page.text
    assert_private(page)
    assert client.post(f"/a/{token}").status_code == 404


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_token_for_one_memo_cannot_acknowledge_another(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    memo_a = take_memo(session, operator, subject="A の件")
    memo_b = take_memo(session, operator, subject="B の件")
    body, _, mac = token_for(settings, memo_a.id).partition(".")
    payload = _unb64(body)
    # Memo A's signature on a payload that names memo B instead.
    moved = _b64(bytes.fromhex(memo_b.id) + payload[16:]) + "." + mac
    # And memo B's own payload signed with the wrong key.
    wrong_key = make_ack_token(
        secret="another-secret-0123456789", memo_id=memo_b.id, contact_key="x"
    )

    for forged in (moved, wrong_key):
        assert client.get(f"/a/{forged}").status_code == 404
        assert client.post(f"/a/{forged}").status_code == 404

    assert fresh(session, memo_b).acknowledged_at is None
    assert fresh(session, memo_a).acknowledged_at is None


def test_a_genuine_token_for_a_memo_that_does_not_exist_is_not_found(
    client: TestClient, settings: Settings
) -> None:
    token = token_for(settings, "0" * 32)

    assert client.get(f"/a/{token}").status_code == 404
    assert client.post(f"/a/{token}").status_code == 404


def test_an_expired_link_shows_the_state_but_cannot_acknowledge(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = f"/a/{token_for(settings, memo.id)}"
    clock.advance(timedelta(days=settings.ack_link_days, seconds=1))

    page = client.get(url)

    assert page.status_code == 200
    assert "このリンクの有効期限が切れています。" in page.text
    assert "内容を確認しました</button>" not in page.text
    assert "未確認（送信前）" in page.text  # where the memo stands
    assert "本日15時の予約" not in page.text  # but no longer what the caller said

    refused = client.post(url)

    assert refused.status_code == 410
    assert "このリンクの有効期限が切れています。" in refused.text
    assert fresh(session, memo).acknowledged_at is None


def test_a_link_still_works_on_its_last_day(
    client: TestClient,
    session: Session,
    operator: User,
    company: Company,
    settings: Settings,
    clock: ManualClock,
) -> None:
    memo = take_memo(session, operator)
    url = f"/a/{token_for(settings, memo.id)}"
    clock.advance(timedelta(days=settings.ack_link_days) - timedelta(minutes=1))

    assert client.post(url).status_code == 200
    assert fresh(session, memo).acknowledged_via == "link"


def test_an_english_company_reads_its_page_in_english_in_its_own_zone(
    client: TestClient, session: Session, operator: User, settings: Settings
) -> None:
    make_english_company(session)
    memo = take_memo(session, operator, client="maple-law", caller={"name": "Jane Roe"})

    page = client.get(f"/a/{token_for(settings, memo.id, 'office')}")

    assert page.status_code == 200
    assert '<div class="ack-page" lang="en">' in page.text
    assert "I have read this message</button>" in page.text
    assert "Sun, Jan 4, 2026 19:00" in page.text
    assert "Complaint" in page.text


# --- the page's language -------------------------------------------------------------------

CALLER_WORDS = {
    "caller": {"name": "Jane Roe", "phone": "+12025550188", "company": "Roe Holdings"},
    "subject": "Deposition moved",
    "body": "The deposition moved to Thursday; please call back before noon.",
}


def _maple_law(session: Session) -> None:
    make_english_company(
        session,
        fields=[{"key": "matter", "label": "Matter number", "required": False}],
        contacts=[
            {"key": "office", "name": "Front desk", "email": "desk@maple.example"},
        ],
        routing=[{"notify": ["office"], "channels": ["email"]}],
        escalation=[],
    )


def test_an_english_company_page_has_no_japanese_even_for_a_japanese_browser(
    client: TestClient, session: Session, operator: User, settings: Settings
) -> None:
    _maple_law(session)
    memo = take_memo(
        session,
        operator,
        client="maple-law",
        urgency="urgent",
        fields={"matter": "M-7"},
        **CALLER_WORDS,
    )
    link = f"/a/{token_for(settings, memo.id, 'office')}"

    waiting = client.get(link, headers={"Accept-Language": "ja"})
    done = client.post(link, headers={"Accept-Language": "ja"})
    again = client.get(link, headers={"Accept-Language": "ja"})

    for page in (waiting, done, again):
        assert page.status_code == 200
        assert '<html lang="en">' in page.text
        assert japanese_in(page.text) == []
    assert "Maple Law — Front desk" in waiting.text
    assert "I have read this message</button>" in waiting.text
    assert "Confirmed. Thank you." in done.text
    assert "This message has been confirmed." in again.text


def test_a_japanese_company_page_is_japanese_for_an_english_browser(
    client: TestClient, session: Session, operator: User, company: object, settings: Settings
) -> None:
    memo = take_memo(session, operator)

    page = client.get(f"/a/{token_for(settings, memo.id)}", headers={"Accept-Language": "en"})

    assert '<html lang="ja">' in page.text
    assert "さくら歯科クリニック — 佐藤 院長様" in page.text
    assert "内容を確認しました</button>" in page.text
    assert "I have read this message" not in page.text


def test_a_link_naming_no_company_is_read_in_the_readers_language(client: TestClient) -> None:
    english = client.get("/a/not-a-token", headers={"Accept-Language": "en-GB,en;q=0.9"})
    japanese = client.get("/a/not-a-token", headers={"Accept-Language": "ja"})

    assert english.status_code == japanese.status_code == 404
    assert "This link is not valid." in english.text and japanese_in(english.text) == []
    assert "このリンクは無効です。" in japanese.text and "not valid" not in japanese.text


def test_the_page_keeps_the_companys_language_whatever_a_signed_in_reader_chose(
    client: TestClient, session: Session, operator: User, company: Company, settings: Settings
) -> None:
    from service.auth import service as auth

    reader = make_client_user(session, company_id=company.id, email="desk@sakura.example")
    auth.set_user_locale(session=session, user=reader, locale="en")
    session.commit()
    assert login(client, "desk@sakura.example", "correct horse battery").status_code == 303
    memo = take_memo(session, operator)

    page = client.get(f"/a/{token_for(settings, memo.id)}", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "内容を確認しました</button>" in page.text
    assert "I have read this message" not in page.text
    assert '<html lang="en">' in client.get("/portal").text
