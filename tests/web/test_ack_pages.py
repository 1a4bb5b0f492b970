"""The acknowledgement page in one language: the company's, whatever the reader's browser says."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from service.auth.models import User
from service.memos.ack_links import make_ack_token
from service.settings import Settings
from tests.dispatch.conftest import take_memo
from tests.factories import make_english_company
from tests.i18n.japanese import japanese_in

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


def _link(settings: Settings, memo_id: str, contact_key: str) -> str:
    token = make_ack_token(secret=settings.secret(), memo_id=memo_id, contact_key=contact_key)
    return f"/a/{token}"


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
    link = _link(settings, memo.id, "office")

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

    page = client.get(_link(settings, memo.id, "director"), headers={"Accept-Language": "en"})

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
