"""SMS replies from the company's phones: STOP/START, and acknowledgement by code or a bare OK.

A reply acknowledges only a memo that is waiting for the number it comes from: a memo with a
delivery to that number, or a memo of a company that lists the number as a contact's phone.
The memo's code picks one of them; a bare "OK" is taken only when exactly one is waiting,
since acknowledging the wrong memo would silence the reminders about the right one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from service.acks.reply_limits import Counted, within_limit
from service.acks.service import AckVia, acknowledge
from service.companies.config import CompanyConfig
from service.companies.models import Company
from service.companies.service import TEST_MEMO_IDS, company_config, list_companies
from service.dispatch.models import Delivery
from service.i18n import N_, translate
from service.memos.models import Memo
from service.routing.optouts import START_WORDS, STOP_WORDS, record_opt_in, record_opt_out

# Words that mean "seen" on their own. Compared after NFKC and upper-casing.
BARE_OK = frozenset(
    {
        "OK",
        "OKAY",
        "了解",
        "了解です",
        "了解しました",
        "はい",
        "確認",
        "確認しました",
        "承知しました",
    }
)
_OK_WORDS = "|".join(sorted((re.escape(word) for word in BARE_OK), key=len, reverse=True))
# "4821", "OK 4821", "OK4821", "了解 4821", "4821 OK"; codes are 4 digits, 6 when 4 ran out.
_CODE = re.compile(
    rf"(?:(?:{_OK_WORDS})[\s,.:;、。-]*)?(\d{{4}}|\d{{6}})(?:[\s,.:;、。-]*(?:{_OK_WORDS}))?"
)
_TRAILING = " \t.!?。！？"

# Answers to a contact's SMS, in the company's language.
REPLIES = {
    "acknowledged": N_("Acknowledged (%(code)s). Thank you."),
    "already": N_("Message %(code)s was already acknowledged."),
    "ambiguous": N_("Several messages are waiting. Reply with the 4-digit code to confirm."),
    "help": N_("Reply with the 4-digit code to confirm."),
}


class ReplyKind(StrEnum):
    stop = "stop"
    start = "start"
    code = "code"
    ok = "ok"
    other = "other"


@dataclass(frozen=True)
class ParsedReply:
    kind: ReplyKind
    code: str | None = None


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply did, and the SMS to answer with (None: answer nothing)."""

    kind: ReplyKind
    answer: str | None
    memo_id: str | None = None
    acknowledged: bool = False


@dataclass(frozen=True)
class _Waiting:
    memo: Memo
    contact_key: str
    locale: str


def normalise_reply(body: str) -> str:
    """The text of a reply with full-width forms folded, spaces collapsed, upper case."""
    text = unicodedata.normalize("NFKC", body)
    # Upper-casing can leave a decomposed form (ΐ becomes Ι and two accents); fold again, so
    # folding a folded reply changes nothing.
    return unicodedata.normalize("NFKC", " ".join(text.split()).upper())


def parse_reply(body: str) -> ParsedReply:
    """What a reply asks for: opt out, opt in, a code, a bare OK, or nothing we know."""
    text = normalise_reply(body)
    word = text.strip(_TRAILING)
    if word in STOP_WORDS:
        return ParsedReply(ReplyKind.stop)
    if word in START_WORDS:
        return ParsedReply(ReplyKind.start)
    if word in BARE_OK:
        return ParsedReply(ReplyKind.ok)
    found = _CODE.fullmatch(word)
    if found:
        # \d reads digits of any script (٤٨٢١); codes are stored in ASCII digits.
        code = "".join(str(unicodedata.decimal(digit)) for digit in found.group(1))
        return ParsedReply(ReplyKind.code, code)
    return ParsedReply(ReplyKind.other)


def _configs(session: Session) -> list[tuple[Company, CompanyConfig]]:
    configs = []
    for company in list_companies(session=session):
        try:
            configs.append((company, company_config(company)))
        except ValidationError:
            continue  # a company that cannot be read has no contacts to match
    return configs


def _candidates(
    *, session: Session, phone: str, acknowledged: bool, code: str | None
) -> list[_Waiting]:
    """Memos relayed to `phone` or of a company whose contact has it, newest first."""
    configs = _configs(session)
    by_company = {company.id: config for company, config in configs}
    ack = col(Memo.acknowledged_at)
    conditions: list[ColumnElement[bool]] = [ack.is_not(None) if acknowledged else ack.is_(None)]
    if code is not None:
        conditions.append(col(Memo.ack_code) == code)
    else:
        # A bare "OK" is for a real memo: a company's test send is confirmed by its code.
        conditions.append(col(Memo.id).not_in(TEST_MEMO_IDS))
    found: dict[str, _Waiting] = {}
    relayed = session.exec(
        select(Memo, Delivery.contact_key)
        .join(Delivery, col(Delivery.memo_id) == col(Memo.id))
        .where(Delivery.to == phone, *conditions)
        .order_by(col(Delivery.created_at))
    ).all()
    for memo, contact_key in relayed:
        config = by_company.get(memo.company_id)
        locale = config.locale if config else "ja"
        found.setdefault(memo.id, _Waiting(memo, contact_key, locale))
    for company, config in configs:
        keys = [contact.key for contact in config.contacts if contact.phone == phone]
        if not keys:
            continue
        memos = session.exec(select(Memo).where(Memo.company_id == company.id, *conditions)).all()
        for memo in memos:
            found.setdefault(memo.id, _Waiting(memo, keys[0], config.locale))
    return sorted(found.values(), key=lambda w: w.memo.created_at, reverse=True)


def _known_locale(*, session: Session, phone: str) -> str | None:
    for _, config in _configs(session):
        if any(contact.phone == phone for contact in config.contacts):
            return config.locale
    return None


def _fallback_locale(phone: str) -> str:
    return "ja" if phone.startswith("+81") else "en"


def _text(locale: str, key: str, **values: str) -> str:
    text = translate(locale, REPLIES[key])
    return text % values if values else text


def handle_sms_reply(*, session: Session, from_number: str, body: str) -> ReplyOutcome:
    """Act on one inbound SMS: opt out or in, or acknowledge the memo it names (within limits)."""
    phone = from_number.strip()
    parsed = parse_reply(body)
    if parsed.kind == ReplyKind.stop:
        record_opt_out(session=session, phone=phone)
        return ReplyOutcome(parsed.kind, None)
    if parsed.kind == ReplyKind.start:
        record_opt_in(session=session, phone=phone)
        return ReplyOutcome(parsed.kind, None)
    # STOP and START above are never held back; everything else is read and answered within
    # limits per number, so a flood costs neither queries nor paid answers past a few.
    if not within_limit(session=session, phone=phone, counted=Counted.reply):
        return ReplyOutcome(parsed.kind, None)
    outcome = _read(session=session, phone=phone, parsed=parsed)
    if outcome.answer is None or outcome.acknowledged:
        return outcome
    if not within_limit(session=session, phone=phone, counted=Counted.answer):
        return replace(outcome, answer=None)
    return outcome


def _read(*, session: Session, phone: str, parsed: ParsedReply) -> ReplyOutcome:
    """Acknowledge the memo a code or a bare OK names, or say why not."""
    if parsed.kind == ReplyKind.other or not phone:
        return _help(session=session, phone=phone, kind=parsed.kind)

    waiting = _candidates(session=session, phone=phone, acknowledged=False, code=parsed.code)
    if len(waiting) == 1:
        return _acknowledge(session=session, target=waiting[0], kind=parsed.kind)
    if len(waiting) > 1:
        return ReplyOutcome(parsed.kind, _text(waiting[0].locale, "ambiguous"))
    if parsed.kind == ReplyKind.code:
        done = _candidates(session=session, phone=phone, acknowledged=True, code=parsed.code)
        if done:
            answer = _text(done[0].locale, "already", code=done[0].memo.ack_code)
            return ReplyOutcome(parsed.kind, answer, memo_id=done[0].memo.id)
    return _help(session=session, phone=phone, kind=parsed.kind)


def _acknowledge(*, session: Session, target: _Waiting, kind: ReplyKind) -> ReplyOutcome:
    result = acknowledge(
        session=session, memo_id=target.memo.id, by=target.contact_key, via=AckVia.sms
    )
    code = target.memo.ack_code
    if result is None or not result.first:
        # Someone else confirmed it between our look and our update.
        return ReplyOutcome(kind, _text(target.locale, "already", code=code), target.memo.id)
    answer = _text(target.locale, "acknowledged", code=code)
    return ReplyOutcome(kind, answer, target.memo.id, acknowledged=True)


def _help(*, session: Session, phone: str, kind: ReplyKind) -> ReplyOutcome:
    locale = _known_locale(session=session, phone=phone) or _fallback_locale(phone)
    return ReplyOutcome(kind, _text(locale, "help"))
