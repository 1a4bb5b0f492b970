"""Acknowledging where a chat message was seen: a button, a postback or a reply (CONTRACT §8).

Each platform's hook checks its own signature first; these functions find what a verified
(or to-be-verified) callback is about: the memo and the destination its message went to.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from service.acks.service import AckResult, AckVia, acknowledge
from service.channels import Channel
from service.companies.config import Destination
from service.companies.models import Company
from service.companies.service import company_config
from service.dispatch.models import Delivery
from service.memos.ack_links import read_ack_token
from service.memos.models import Memo
from service.secrets.service import read_secret
from service.settings import Settings

__all__ = ["ChatTarget", "acknowledge_from_chat", "target_of_code", "target_of_token"]


@dataclass(frozen=True)
class ChatTarget:
    """A memo and the chat destination one of its messages went to."""

    memo: Memo
    destination: Destination

    def secret(self, *, session: Session, settings: Settings, field: str) -> str | None:
        """The value of the secret the destination names in `field` (e.g. "signing_secret")."""
        name = getattr(self.destination, field, None)
        if not name:
            return None
        return read_secret(session=session, name=name, settings=settings)


def _target(*, session: Session, memo: Memo | None, key: str, kind: Channel) -> ChatTarget | None:
    if memo is None:
        return None
    company = session.get(Company, memo.company_id)
    if company is None:
        return None
    try:
        destination = company_config(company).destination(key)
    except KeyError:
        return None
    return ChatTarget(memo=memo, destination=destination) if destination.kind == kind else None


def target_of_token(
    *, session: Session, settings: Settings, token: str, kind: Channel
) -> ChatTarget | None:
    """The memo and destination a button's or postback's signed token names, if genuine."""
    claim = read_ack_token(secrets=settings.verifying_secrets(), token=token)
    if claim is None:
        return None
    memo = session.get(Memo, claim.memo_id)
    return _target(session=session, memo=memo, key=claim.contact_key, kind=kind)


def target_of_code(
    *, session: Session, code: str, kind: Channel, address: str
) -> ChatTarget | None:
    """The memo with acknowledgement `code` whose message went to `address` on `kind`."""
    found = session.exec(
        select(Memo, Delivery.contact_key)
        .join(Delivery, col(Delivery.memo_id) == col(Memo.id))
        .where(
            Memo.ack_code == code,
            Delivery.channel == kind,
            Delivery.to == address,
        )
        .order_by(col(Memo.created_at).desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    memo, key = found
    return _target(session=session, memo=memo, key=key, kind=kind)


def acknowledge_from_chat(
    *, session: Session, target: ChatTarget, by: str, via: AckVia
) -> AckResult | None:
    """Acknowledge the target's memo as seen on its platform; later ones change nothing."""
    return acknowledge(session=session, memo_id=target.memo.id, by=by, via=via)
