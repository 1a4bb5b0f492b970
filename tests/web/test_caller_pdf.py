"""A caller's evidence export as PDF, read back with a PDF reader: the number, each memo with
its code, text and how it was handled, the bureau's flags for staff only, every page footed with
the export's reference and "n / N"; audited as the CSV and JSON exports are."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pypdf import PdfReader
from sqlmodel import Session

from service.acks.service import AckVia
from service.audit import service as audit
from service.audit.service import Actor
from service.auth.models import User
from service.calls import service as calls
from service.calls.caller_notes import add_caller_note
from service.calls.caller_policies import set_caller_policy
from service.clock import ManualClock
from service.companies.models import Company
from service.followup.schema import ResolutionIn
from service.followup.service import resolve
from service.i18n import translate
from service.memos.models import Memo
from tests.dispatch.conftest import take_memo
from tests.factories import make_client_user, make_company
from tests.memos.test_caller_record import CALLER, RECORDING, CallerHistory, make_caller_history
from tests.people import sign_in

JA = {"Accept-Language": "ja"}
EN = {"Accept-Language": "en"}
STAFF_EXPORT = "/api/v1/callers/090-1111-2222/export"
PORTAL_EXPORT = "/portal/callers/090-1111-2222/export"
BODY = "本日15時の予約が入っていなかった。至急折り返しを希望。"
FLAG_WORDS = ("大声で威圧", "毎日同じ時刻に", "カスハラ")


@pytest.fixture
def history(
    session: Session, clock: ManualClock, operator: User, admin: User, company: Company
) -> CallerHistory:
    return make_caller_history(session, clock, operator, admin, company)


def pages_of(answer: Response) -> list[str]:
    """The text of each page of a PDF answer."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    return [page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages]


def flat(pages: list[str]) -> str:
    """The document's text with line breaks taken out, as a reader searching it sees it."""
    return re.sub(r"\s+", "", "".join(pages))


def exported(session: Session) -> list[audit.AuditEntry]:
    session.expire_all()
    entries, _ = audit.list_entries(session=session, action="export")
    return entries


def handled(session: Session, memo: Memo, client_user: User) -> None:
    """The company says how it handled `memo`, through the portal."""
    resolve(
        session=session,
        memo=memo,
        data=ResolutionIn(
            response="院長から謝罪の電話", cause="受付の説明不足", result="了承", resolved=True
        ),
        by=client_user.display_name or client_user.email,
        via=AckVia.portal,
        recorded_by=client_user,
    )
    session.commit()


def test_staff_get_every_companys_calls_memos_and_the_flags_as_a_pdf(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    admin: User,
    client_user: User,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    clock.advance(timedelta(hours=1))
    handled(session, history.sakura_memo, client_user)

    answer = client.get(STAFF_EXPORT, params={"format": "pdf"}, headers={**admin_headers, **JA})

    pages = pages_of(answer)
    assert answer.headers["cache-control"] == "no-store"
    assert re.fullmatch(
        r'attachment; filename="relay-caller-819011112222-\d{8}-\d{4}\.pdf"',
        answer.headers["content-disposition"],
    )
    text = flat(pages)
    assert "090-1111-2222" in text and "+819011112222" in text
    assert "全社" in text  # every company's record
    assert "さくら歯科クリニック" in text and "かえで法律事務所" in text
    for memo in (history.sakura_memo, history.kaede_memo, history.sakura_later_memo):
        assert memo.ack_code in text and memo.id in text
    assert history.other_memo.ack_code not in text
    assert BODY in text and "受付の対応について" in text and "12345" in text
    assert RECORDING in text
    assert "佐藤院長" in text  # who confirmed the memo
    for said in ("院長から謝罪の電話", "受付の説明不足", "了承", "解決済み"):
        assert said in text
    for flag_word in FLAG_WORDS:
        assert flag_word in text
    assert admin.display_name.replace(" ", "") in text
    [entry] = exported(session)
    assert (entry.actor, entry.target, entry.company_id, entry.detail) == (
        admin.email,
        "caller:+819011112222",
        None,
        {"format": "pdf", "scope": "bureau", "calls": "2", "memos": "3", "flags": "2"},
    )
    document = PdfReader(io.BytesIO(answer.content))
    assert document.metadata is not None
    assert document.metadata.creation_date == clock.now().replace(microsecond=0)
    assert document.metadata.title == translate("ja", "Caller record") + " 090-1111-2222"
    # Every page names the export, as the audit trail knows it, and its place among them.
    for number, page in enumerate(pages, start=1):
        assert entry.id in page
        assert f"{number} / {len(pages)}" in page


def test_a_company_gets_its_own_calls_and_memos_and_never_the_flags(
    client: TestClient, session: Session, history: CallerHistory, client_user: User
) -> None:
    sign_in(client, client_user)

    answer = client.get(PORTAL_EXPORT, params={"format": "pdf"}, headers=JA)

    text = flat(pages_of(answer))
    assert "090-1111-2222" in text and "さくら歯科クリニック" in text
    assert history.sakura_memo.ack_code in text and history.sakura_later_memo.ack_code in text
    assert BODY in text
    for theirs in (history.kaede_memo.id, history.kaede_memo.ack_code, "かえで"):
        assert theirs not in text
    for flag_word in FLAG_WORDS:
        assert flag_word not in text
    assert "要注意" not in text
    [entry] = exported(session)
    assert (entry.actor, entry.company_id, entry.detail) == (
        client_user.email,
        history.sakura.id,
        {"format": "pdf", "scope": "sakura-dental", "calls": "1", "memos": "2", "flags": "0"},
    )


def test_a_company_with_nothing_from_the_number_gets_404_in_every_format(
    client: TestClient, session: Session, history: CallerHistory
) -> None:
    other = make_company(session, slug="momiji-tax", name="もみじ税理士法人")
    sign_in(client, make_client_user(session, company_id=other.id, email="m@momiji.example"))

    answers = [
        client.get(PORTAL_EXPORT, params={"format": fmt}, headers=JA)
        for fmt in ("pdf", "csv", "json")
    ]
    page = client.get("/portal/callers/090-1111-2222", headers=JA)

    for answer in answers:
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
        assert "さくら" not in answer.text
    assert "format=pdf" not in page.text  # nothing to export, so no link to it
    assert exported(session) == []


def test_another_companys_client_reads_only_its_own_memo(
    client: TestClient, session: Session, history: CallerHistory
) -> None:
    kaede_user = make_client_user(session, company_id=history.kaede.id, email="k@kaede.example")
    sign_in(client, kaede_user)

    text = flat(pages_of(client.get(PORTAL_EXPORT, params={"format": "pdf"})))

    assert history.kaede_memo.ack_code in text and "かえでの相談の件" in text
    assert history.sakura_memo.ack_code not in text and "さくら" not in text


def test_notes_and_policies_are_in_the_pdf_each_companys_to_its_own(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    operator: User,
    admin: User,
    client_user: User,
    admin_headers: dict[str, str],
    clock: ManualClock,
) -> None:
    clock.advance(timedelta(hours=1))
    as_admin = Actor(name=admin.email, user_id=admin.id)
    set_caller_policy(
        session=session,
        company_id=history.sakura.id,
        phone=CALLER,
        text="院長に直接つながない",
        time_limit_minutes=5,
        actor=Actor(name=client_user.email, user_id=client_user.id),
    )
    add_caller_note(
        session=session,
        company_id=history.sakura.id,
        phone=CALLER,
        text="予約変更の電話が多い",
        actor=Actor(name=operator.email, user_id=operator.id),
    )
    add_caller_note(
        session=session,
        company_id=history.kaede.id,
        phone=CALLER,
        text="相談料の説明済み",
        actor=as_admin,
    )
    session.commit()

    staff = flat(
        pages_of(client.get(STAFF_EXPORT, params={"format": "pdf"}, headers=admin_headers))
    )
    sign_in(client, client_user)
    sakura = flat(pages_of(client.get(PORTAL_EXPORT, params={"format": "pdf"})))

    limit = translate("ja", "Time limit: %(minutes)s minutes") % {"minutes": 5}
    for text in (staff, sakura):
        assert "院長に直接つながない" in text and "予約変更の電話が多い" in text
        assert re.sub(r"\s+", "", limit) in text
    assert "相談料の説明済み" in staff
    assert "相談料の説明済み" not in sakura


def test_a_format_not_offered_is_422_and_not_audited(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    client_user: User,
    operator_headers: dict[str, str],
) -> None:
    staff = client.get(STAFF_EXPORT, params={"format": "docx"}, headers=operator_headers)
    sign_in(client, client_user)
    portal = client.get(PORTAL_EXPORT, params={"format": "PDF"})

    for answer in (staff, portal):
        assert answer.status_code == 422
        assert answer.json()["code"] == "not_a_choice"
    assert exported(session) == []


def test_the_pdf_is_in_the_readers_language(
    client: TestClient, history: CallerHistory, admin_headers: dict[str, str]
) -> None:
    english = pages_of(
        client.get(STAFF_EXPORT, params={"format": "pdf"}, headers={**admin_headers, **EN})
    )
    japanese = pages_of(
        client.get(STAFF_EXPORT, params={"format": "pdf"}, headers={**admin_headers, **JA})
    )

    assert "Caller record" in english[0] and "Every company" in english[0]
    assert "Category" in "".join(english) and "Complaint" in "".join(english)
    assert "区分" in "".join(japanese) and "全社" in "".join(japanese)
    assert "Category" not in "".join(japanese) and "Every company" not in "".join(japanese)


def test_text_that_looks_like_markup_is_written_as_given(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    operator: User,
    admin_headers: dict[str, str],
) -> None:
    take_memo(
        session,
        operator,
        subject="<b>至急</b> & <a href='x'>",
        body="一行目\r\n二行目\x07\x1b <font size=40>大</font>",
    )

    answer = client.get(STAFF_EXPORT, params={"format": "pdf"}, headers=admin_headers)

    text = flat(pages_of(answer))
    assert "<b>至急</b>&<ahref='x'>" in text
    assert "一行目二行目<fontsize=40>大</font>" in text


def links_of(answer: Response) -> list[str]:
    """The addresses the PDF's links go to."""
    reader = PdfReader(io.BytesIO(answer.content))
    return [
        annotation.get_object()["/A"]["/URI"]
        for page in reader.pages
        for annotation in page.get("/Annots", [])
        if "/A" in annotation.get_object()
    ]


def test_a_recording_is_a_link_only_when_it_is_a_web_address(
    client: TestClient,
    session: Session,
    history: CallerHistory,
    admin_headers: dict[str, str],
) -> None:
    calls.attach_recording(
        session=session, call_sid=history.kaede_call.call_sid, recording_url="javascript:alert(1)"
    )
    session.commit()

    answer = client.get(STAFF_EXPORT, params={"format": "pdf"}, headers=admin_headers)

    assert set(links_of(answer)) == {RECORDING}  # one annotation per line the link runs over
    assert "javascript:alert(1)" in flat(pages_of(answer))


def test_many_memos_run_onto_numbered_pages(
    client: TestClient,
    session: Session,
    clock: ManualClock,
    operator: User,
    client_user: User,
    company: Company,
) -> None:
    memos = []
    for number in range(60):
        clock.advance(timedelta(minutes=5))
        memos.append(
            take_memo(
                session,
                operator,
                subject=f"お問い合わせ {number:02d}",
                body=f"{number:02d} " + "予約の変更について長いご相談がありました。" * 12,
            )
        )
    sign_in(client, client_user)

    pages = pages_of(client.get(PORTAL_EXPORT, params={"format": "pdf"}, headers=JA))

    assert len(pages) > 10
    for number, page in enumerate(pages, start=1):
        assert f"{number} / {len(pages)}" in page
    text = flat(pages)
    for memo in memos:
        assert memo.ack_code in text
    # Oldest first, as the record runs.
    places = [text.index(f"お問い合わせ{n:02d}") for n in range(60)]
    assert places == sorted(places)


def test_the_caller_pages_offer_the_pdf_beside_csv_and_json(
    client: TestClient, history: CallerHistory, operator: User, client_user: User
) -> None:
    sign_in(client, operator)
    staff = client.get("/callers/090-1111-2222").text
    sign_in(client, client_user)
    portal = client.get("/portal/callers/090-1111-2222").text

    assert 'href="/api/v1/callers/%2B819011112222/export?format=pdf"' in staff
    assert 'href="/portal/callers/%2B819011112222/export?format=pdf"' in portal
