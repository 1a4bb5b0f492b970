"""The dev outbox: messages are kept in `outbox_messages` instead of going out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, delete, select

from service import clock
from service.db import transaction
from service.providers.base import (
    Channel,
    Found,
    LookupResult,
    Outcome,
    OutgoingMessage,
    SendResult,
)
from service.providers.models import OutboxMessage

log = logging.getLogger(__name__)

PROVIDER_ID_PREFIX = "outbox-"
SUBJECT_MAX = 500


def store_message(*, session: Session, message: OutgoingMessage) -> OutboxMessage:
    """Add `message` to the outbox."""
    row = OutboxMessage(
        delivery_id=message.delivery_id,
        channel=message.channel,
        to=message.to,
        subject=message.subject[:SUBJECT_MAX],
        text=message.text,
        html=message.html,
        payload=message.chat.to_json() if message.chat else None,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def find_message(*, session: Session, delivery_id: str, channel: Channel) -> OutboxMessage | None:
    """The latest outbox message of one delivery on one channel."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.delivery_id == delivery_id, OutboxMessage.channel == channel)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def latest_messages(
    *,
    session: Session,
    limit: int = 50,
    channel: Channel | None = None,
    to: str | None = None,
    delivery_id: str | None = None,
) -> list[OutboxMessage]:
    """The newest outbox messages first, optionally only one channel, recipient or delivery."""
    query = select(OutboxMessage)
    if channel is not None:
        query = query.where(OutboxMessage.channel == channel)
    if to is not None:
        query = query.where(OutboxMessage.to == to)
    if delivery_id is not None:
        query = query.where(OutboxMessage.delivery_id == delivery_id)
    query = query.order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
    return list(session.exec(query.limit(limit)).all())


class OutboxProvider:
    """Keeps every message of one channel in the dev outbox; always accepted."""

    def __init__(self, *, channel: Channel, engine: Engine) -> None:
        self.channel = channel
        self.engine = engine

    def _store(self, message: OutgoingMessage) -> str:
        with transaction(self.engine) as session:
            return store_message(session=session, message=message).id

    def _find(self, message: OutgoingMessage) -> LookupResult:
        with transaction(self.engine) as session:
            row = find_message(
                session=session, delivery_id=message.delivery_id, channel=message.channel
            )
            if row is None:
                return LookupResult.absent()
            return LookupResult(Found.found, provider_id=PROVIDER_ID_PREFIX + row.id, status="sent")

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Store `message` in its own short transaction; never raises for database errors."""
        try:
            row_id = await asyncio.to_thread(self._store, message)
        except SQLAlchemyError as error:
            log.warning("dev outbox delivery=%s not stored: %s", message.delivery_id, error)
            # The commit may or may not have happened; `lookup` tells.
            return SendResult(Outcome.unknown, error=f"dev outbox: {type(error).__name__}")
        log.info("dev outbox %s delivery=%s to=%s", self.channel, message.delivery_id, message.to)
        return SendResult.sent(PROVIDER_ID_PREFIX + row_id)

    async def lookup(self, message: OutgoingMessage) -> LookupResult:
        """Whether the outbox holds `message`'s delivery; unreachable when the database fails."""
        try:
            return await asyncio.to_thread(self._find, message)
        except SQLAlchemyError as error:
            log.warning("dev outbox lookup delivery=%s failed: %s", message.delivery_id, error)
            return LookupResult.unreachable(f"dev outbox: {type(error).__name__}")

    async def aclose(self) -> None:
        """Nothing to close: the engine belongs to the caller."""


def delete_for_deliveries(*, session: Session, delivery_ids: Collection[str]) -> None:
    """Delete what the dev outbox kept of these deliveries."""
    if delivery_ids:
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.delivery_id).in_(delivery_ids)))
