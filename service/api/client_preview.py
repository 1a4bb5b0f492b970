"""A company's messages before they go out: the preview of a sample memo, and a test send.

`POST /api/v1/clients/_new/preview` previews a company not saved yet (its `config` is then
required). A test send is a real delivery of the sample memo to one contact or chat
destination, through the dispatcher and its providers; its memo is kept as a test
(`company_test_sends`): it never escalates and stays out of the lists of memos and the board.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service import clock
from service.api.clients import company_for
from service.api.memo_views import memo_out
from service.audit.service import Action, record
from service.auth.models import User
from service.channels import Channel, is_chat
from service.companies import service
from service.companies.config import CompanyConfig
from service.companies.destinations import Destination
from service.companies.models import Company, CompanyTestSend
from service.companies.validation import validate_document
from service.dispatch.delivery_queue import enqueue
from service.dispatch.models import DeliveryReason
from service.errors import Invalid
from service.http_deps import CurrentAdmin, SessionDep, SettingsDep, actor_of
from service.i18n import N_
from service.memos.ack_links import ack_link, make_ack_token
from service.memos.models import Category, Memo, MemoStatus, Urgency
from service.memos.schema import MemoOut
from service.messages.preview import ChatTo, Preview, SampleMemo, preview_messages, sample_memo
from service.phones import PhoneNumberError, to_e164
from service.routing.optouts import opted_out_among
from service.routing.service import Recipient
from service.settings import Settings
from service.web.csrf import verify_csrf

router = APIRouter(prefix="/api/v1", tags=["clients"], dependencies=[Depends(verify_csrf)])

# The address of a company not saved yet, for a preview of its unsaved document.
NEW = "_new"
# The memo id a preview's acknowledgement link names: as long as a real one, so the SMS is
# counted at its true length, and naming no memo, so the link leads nowhere.
_NO_MEMO = "0" * 32
_MAX_BODY = 64 * 1024


class SampleCaller(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    company: str | None = Field(default=None, max_length=200)


class SampleMemoIn(BaseModel):
    """Memo fields (as `POST /api/v1/memos` takes them) replacing parts of the sample memo."""

    category: Literal["complaint", "inquiry", "callback", "order", "other"] | None = None
    urgency: Literal["normal", "urgent"] | None = None
    caller: SampleCaller | None = None
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=_MAX_BODY)
    fields: dict[str, str] | None = None


class PreviewIn(BaseModel):
    """What to preview: the saved company, or an unsaved `config`; the sample memo or `memo`."""

    # Checked as a save checks it, so its refusals are the loader's (`invalid_company`).
    config: dict[str, Any] | None = None
    memo: SampleMemoIn | None = None
    contact: str | None = Field(
        default=None, description="the contact written to (its key); by default the first"
    )


class EmailOut(BaseModel):
    subject: str
    text: str
    html: str


class SmsOut(BaseModel):
    text: str
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
    units: int = Field(description="GSM-7 septets or UCS-2 code units")
    budget: int = Field(description="the most segments a memo's SMS is shortened to")


class VoiceOut(BaseModel):
    text: str = Field(description="what the call-out reads before asking for a key")


class FactOut(BaseModel):
    label: str
    value: str


class ChatOut(BaseModel):
    """The card one chat destination would get (CONTRACT §8)."""

    destination: str = Field(description="the destination's key")
    name: str = Field(description="what people call the destination")
    kind: str = Field(description="its platform: slack, chatwork, lineworks, line, teams, webhook")
    title: str
    facts: list[FactOut]
    summary: str
    code: str
    code_label: str
    ack_label: str = Field(description="the button's words, where the platform has a button")
    link_label: str
    ack_url: str
    mentions: list[str]
    text: str = Field(description="the card as plain text, as text-only platforms show it")


class PreviewOut(BaseModel):
    """The sample memo as each channel would send it to the contact, and each destination's card."""

    email: EmailOut
    sms: SmsOut
    voice: VoiceOut
    chat: list[ChatOut] = Field(
        default_factory=list, description="one card per chat destination, in the document's order"
    )


class TestSendIn(BaseModel):
    """Who receives the test, and on which channel (by default the contact's first)."""

    contact: str = Field(max_length=64, description="a contact's key, or a chat destination's key")
    channel: (
        Literal[
            "email", "sms", "voice", "slack", "chatwork", "lineworks", "line", "teams", "webhook"
        ]
        | None
    ) = Field(default=None, description="a destination is reached on its own platform only")


class TestSendOut(BaseModel):
    """The test memo and its one delivery; poll `trail` for each attempt and its outcome."""

    memo_id: str
    delivery_id: str
    channel: str
    to: str
    contact: str
    memo: MemoOut
    status_url: str = Field(description="the memo, with its delivery's status and attempts")
    trail_url: str = Field(description="the memo's trail: every attempt and provider answer")


def _config_to_preview(
    *, session: Session, slug: str, admin: User, document: dict[str, Any] | None
) -> tuple[CompanyConfig, Company | None]:
    if document is None:
        if slug == NEW:
            raise Invalid(
                N_("A company not saved yet needs its document in `config`."),
                field="config",
                code="missing",
            )
        company = company_for(session=session, slug=slug, user=admin)
        return service.company_config(company), company
    document = dict(document)
    for key in ("version", "updated_at", "sms_opted_out"):
        document.pop(key, None)
    # A new company may be previewed before its slug is typed.
    document.setdefault("slug", slug if slug != NEW else "new-company")
    return validate_document(document), None


def _contact(config: CompanyConfig, key: str | None) -> Any:
    if key is None:
        return config.contacts[0]
    try:
        return config.contact(key)
    except KeyError:
        raise Invalid(
            N_("%(slug)s has no contact %(key)s."),
            field="contact",
            code="unknown_contact",
            slug=config.slug,
            key=key,
        ) from None


def _caller_phone(raw: str | None, config: CompanyConfig) -> str | None:
    if raw is None or not raw.strip():
        return raw
    try:
        return to_e164(raw, country=config.country)
    except PhoneNumberError:
        raise Invalid(
            N_("%(number)s is not a phone number; check it."),
            field="memo.caller.phone",
            code="bad_phone",
            number=raw,
        ) from None


def _sample(config: CompanyConfig, given: SampleMemoIn | None) -> SampleMemo:
    data = given.model_dump(exclude_none=True) if given is not None else {}
    if given is not None and given.caller is not None and given.caller.phone is not None:
        data["caller"]["phone"] = _caller_phone(given.caller.phone, config)
    return sample_memo(config=config, given=data)


def _local_zone(config: CompanyConfig) -> ZoneInfo:
    # As a delivery is written: the company's time zone, Tokyo when it keeps no hours.
    return ZoneInfo(config.hours.timezone if config.hours else "Asia/Tokyo")


def _preview(
    *, config: CompanyConfig, memo: SampleMemo, contact_key: str, settings: Settings, operator: str
) -> Preview:
    token = make_ack_token(secret=settings.secret(), memo_id=_NO_MEMO, contact_key=contact_key)
    destinations = []
    for destination in config.destinations:
        value = make_ack_token(
            secret=settings.secret(), memo_id=_NO_MEMO, contact_key=destination.key
        )
        destinations.append(
            ChatTo(
                key=destination.key,
                label=destination.label,
                kind=destination.kind,
                ack_url=ack_link(public_base_url=settings.public_base_url, token=value),
                ack_value=value,
                mentions=list(destination.options().get("mention") or []),
            )
        )
    return preview_messages(
        memo=memo,
        company_name=config.name,
        config=config,
        contact_name=config.contact(contact_key).name,
        ack_url=ack_link(public_base_url=settings.public_base_url, token=token),
        received_at_local=clock.now().astimezone(_local_zone(config)),
        operator_name=operator,
        destinations=destinations,
    )


@router.post(
    "/clients/{slug}/preview",
    response_model=PreviewOut,
    responses={422: {"description": "`invalid_company`: the unsaved `config` is refused"}},
)
def preview_client(
    slug: str,
    admin: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
    raw: Annotated[
        dict[str, Any] | None,
        Body(
            description=(
                '`{"config"?: a company document, "memo"?: memo fields, "contact"?: a key}`;'
                " each part left out is the saved company, the sample memo, the first contact"
            ),
            examples=[{"memo": {"urgency": "normal", "body": "折り返しのお電話を希望。"}}],
        ),
    ] = None,
) -> PreviewOut:
    """A sample memo as email, SMS (with encoding and segments), voice call-out and each chat
    destination's card; saves nothing.

    Slug `_new` previews a company not saved yet from its `config`.
    """
    # Read here rather than typed in the signature: `config` is any company document, and
    # its refusals are the loader's, as for a save.
    try:
        body = PreviewIn.model_validate(raw or {})
    except ValidationError as error:
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()]
        ) from None
    config, _ = _config_to_preview(session=session, slug=slug, admin=admin, document=body.config)
    contact = _contact(config, body.contact)
    preview = _preview(
        config=config,
        memo=_sample(config, body.memo),
        contact_key=contact.key,
        settings=settings,
        operator=admin.display_name,
    )
    return PreviewOut(
        email=EmailOut(
            subject=preview.email.subject[:500], text=preview.email.text, html=preview.email.html
        ),
        sms=SmsOut(
            text=preview.sms.text,
            segments=preview.sms.segments,
            encoding=preview.sms.encoding,
            units=preview.sms.units,
            budget=preview.sms.budget,
        ),
        voice=VoiceOut(text=preview.voice.text),
        chat=[
            ChatOut(
                destination=chat.key,
                name=chat.label,
                kind=chat.kind,
                title=chat.card.title,
                facts=[FactOut(label=label, value=value) for label, value in chat.card.facts],
                summary=chat.card.summary,
                code=chat.card.code,
                code_label=chat.card.code_label,
                ack_label=chat.card.ack_label,
                link_label=chat.card.link_label,
                ack_url=chat.card.ack_url,
                mentions=chat.card.mentions,
                text=chat.card.text,
            )
            for chat in preview.chat
        ],
    )


def _destination(config: CompanyConfig, key: str) -> Destination | None:
    # Keys are unique across contacts and destinations, so a key names at most one of them.
    return next((d for d in config.destinations if d.key == key), None)


def _destination_channel(*, destination: Destination, channel: str | None) -> Channel:
    kind = Channel(destination.kind)
    if channel is not None and channel != kind.value:
        raise Invalid(
            N_("%(name)s is reached on %(kind)s only, not on %(channel)s."),
            field="channel",
            code="not_reachable",
            name=destination.label,
            kind=kind.value,
            channel=channel,
        )
    return kind


def _channel_and_address(
    *, config: CompanyConfig, contact: Any, channel: str | None
) -> tuple[Channel, str]:
    if channel is None:
        channel = "email" if contact.email else "sms"
    # A contact has no address on a chat platform: a destination is one.
    address = None if is_chat(channel) else contact.email if channel == "email" else contact.phone
    if address is None:
        raise Invalid(
            N_("%(name)s has no address for %(channel)s."),
            field="channel",
            code="not_reachable",
            name=contact.name,
            channel=channel,
        )
    return Channel(channel), address


def _insert_test_memo(*, session: Session, memo: Memo) -> None:
    # A code of 8 digits stays clear of the short codes real memos draw first; drawn again in
    # the unlikely case an open memo of the company holds it.
    for _ in range(5):
        memo.ack_code = f"{secrets.randbelow(10**8):08d}"
        try:
            with session.begin_nested():
                session.add(memo)
                session.flush()
            return
        except IntegrityError:
            session.expunge(memo)
    raise RuntimeError("no free acknowledgement code for a test memo")


@router.post(
    "/clients/{slug}/test",
    response_model=TestSendOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "`sms_opted_out`: the contact's phone replied STOP"},
        422: {
            "description": "`unknown_contact`; `not_reachable`: no address on that channel, or"
            " a destination asked for on a platform other than its own"
        },
    },
)
def send_test(
    slug: str,
    body: TestSendIn,
    admin: CurrentAdmin,
    session: SessionDep,
    request: Request,
) -> TestSendOut:
    """Send the sample memo to one contact or chat destination for real, through the
    dispatcher and its providers.

    The test memo never escalates and stays out of the lists of memos and the board; its
    status and attempts are read from `status_url` and `trail_url`.
    """
    company = company_for(session=session, slug=slug, user=admin)
    config = service.company_config(company)
    destination = _destination(config, body.contact)
    if destination is not None:
        channel = _destination_channel(destination=destination, channel=body.channel)
        key, address = destination.key, destination.address
    else:
        contact = _contact(config, body.contact)
        key = contact.key
        channel, address = _channel_and_address(
            config=config, contact=contact, channel=body.channel
        )
        if channel == Channel.sms and opted_out_among(session=session, phones=[address]):
            raise Invalid(
                N_("%(name)s replied STOP: no SMS reaches them until they reply START."),
                field="contact",
                code="sms_opted_out",
                status=409,
                name=contact.name,
            )
    sample = sample_memo(config=config)
    now = clock.now()
    memo = Memo(
        company_id=company.id,
        company_version=company.version,
        operator_id=admin.id,
        category=Category(sample.category),
        urgency=Urgency(sample.urgency),
        caller_name=sample.caller_name or "",
        caller_phone=sample.caller_phone,
        caller_company=sample.caller_company,
        subject=sample.subject,
        body=sample.body,
        fields=sample.fields,
        status=MemoStatus.relaying,
        ack_code="",
        created_at=now,
        updated_at=now,
        # No escalation: a test asks no one but its recipient.
        next_escalation_at=None,
    )
    _insert_test_memo(session=session, memo=memo)
    session.add(
        CompanyTestSend(
            memo_id=memo.id,
            company_id=company.id,
            contact_key=key,
            channel=channel.value,
            sent_by=admin.email,
            sent_at=now,
        )
    )
    # Due now, whatever the company's hours: the admin is waiting for it.
    [delivery] = enqueue(
        session=session,
        memo=memo,
        recipients=[Recipient(contact_key=key, channel=channel, to=address)],
        reason=DeliveryReason.routing,
        due_at=now,
    )
    record(
        session=session,
        actor=actor_of(request, admin),
        action=Action.company_test_sent,
        target=f"company:{company.slug}",
        company_id=company.id,
        detail={
            "version": str(company.version),
            "contact": key,
            "channel": channel.value,
            "memo_id": memo.id,
            "delivery_id": delivery.id,
        },
    )
    session.flush()
    return TestSendOut(
        memo_id=memo.id,
        delivery_id=delivery.id,
        channel=channel.value,
        to=address,
        contact=key,
        memo=memo_out(session=session, memo=memo, company=company),
        status_url=f"/api/v1/memos/{memo.id}",
        trail_url=f"/api/v1/memos/{memo.id}/trail",
    )
