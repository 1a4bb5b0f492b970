"""The document that configures one client company (CONTRACT §4), as typed, validated models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.companies.destinations import Destination
from service.companies.followthrough import DEFAULT_FOLLOW_UP, FollowUp, Recap, Retention
from service.companies.hours import Hours
from service.companies.values import (
    E164,
    ISSUE_TYPE,
    ContactKey,
    Duration,
    Email,
    FieldKey,
    ShortText,
    Slug,
    Text,
    fail,
    format_duration,
    parse_duration,
    region_of,
)
from service.i18n import N_
from service.messages.check import check_override
from service.messages.sandbox import TemplateError

__all__ = [
    "CompanyConfig",
    "Contact",
    "Destination",
    "EscalationStep",
    "FollowUp",
    "Hours",
    "MemoField",
    "Recap",
    "Retention",
    "RoutingRule",
    "ScriptStep",
    "Templates",
    "When",
    "format_duration",
    "parse_duration",
]

Locale = Literal["ja", "en"]
Channel = Literal[
    "email", "sms", "voice", "slack", "chatwork", "lineworks", "line", "teams", "webhook"
]
_CONTACT_CHANNELS = ("email", "sms", "voice")
Urgency = Literal["normal", "urgent"]
Category = Literal["complaint", "inquiry", "callback", "order", "other"]
Loc = tuple[str | int, ...]
# One refusal found across the document: where, the catalogue message, its values.
Issue = tuple[Loc, str, dict[str, Any]]

TEMPLATE_MAX_CHARS = 20_000
# Validation context key set by `validate_document`, which every save goes through.
TRY_TEMPLATES = "try_templates"
_DEFAULT_COUNTRY = {"ja": "JP", "en": "US"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The standard memo fields (§4) a question can lead to, beside the company's own `fields:`.
STANDARD_FIELDS = (
    "caller.name",
    "caller.phone",
    "caller.company",
    "category",
    "urgency",
    "subject",
    "body",
)
_FIELD_KEY = TypeAdapter(FieldKey)


class ScriptStep(_Model):
    """One line the operator reads (`say`) or one question it asks (`ask`)."""

    say: Text | None = None
    ask: Text | None = None
    # Where the answer is written: a key under `fields:` or a standard memo field; a question
    # asking for two things at once lists both, in the order asked.
    field: str | list[str] | None = None

    @field_validator("field", mode="before")
    @classmethod
    def _known_kind_of_field(cls, value: Any) -> Any:
        if value is None:
            return None
        names = value if isinstance(value, list) else [value]
        if not names:
            fail(N_("list at least one field, or leave out `field:`"))
        for index, name in enumerate(names):
            loc = (index,) if isinstance(value, list) else ()
            if not isinstance(name, str) or not _is_field_name(name):
                standard = ", ".join(STANDARD_FIELDS)
                fail(
                    N_("'%(name)s' is not a field key (e.g. patient_no) nor %(standard)s"),
                    loc=loc,
                    name=name,
                    standard=standard,
                )
            if name in names[:index]:
                fail(N_("field '%(name)s' is listed twice"), loc=loc, name=name)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptStep:
        if (self.say is None) == (self.ask is None):
            fail(N_("a script step has exactly one of `say:` (read out) or `ask:` (a question)"))
        if self.say is not None and self.field is not None:
            fail(N_("a `say` step has no answer to keep: use `ask:` with `field:`"), loc=("field",))
        return self

    @property
    def field_names(self) -> list[str]:
        """The fields this step's answer goes into, in the order asked."""
        if self.field is None:
            return []
        return [self.field] if isinstance(self.field, str) else list(self.field)


def _is_field_name(name: str) -> bool:
    if name in STANDARD_FIELDS:
        return True
    try:
        _FIELD_KEY.validate_python(name)
    except ValidationError:
        return False
    return True


class MemoField(_Model):
    """A memo field of this company, beyond the standard ones."""

    key: FieldKey
    label: ShortText
    required: bool = False


class Contact(_Model):
    """Someone at the company who receives memos."""

    key: ContactKey
    name: ShortText
    email: Email | None = None
    phone: E164 | None = None
    # Whether this contact receives the company's daily recap by email (off unless asked for).
    recap: bool | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.phone is None:
            fail(N_("a contact needs an `email:` or a `phone:` to be reached"))
        return self


class When(_Model):
    """Which memos a routing rule applies to."""

    urgency: Urgency | None = None
    category: Category | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if self.urgency is None and self.category is None:
            fail(N_("give `urgency:` or `category:`, or leave out `when:` for the default rule"))
        return self


_LISTED_TWICE = {
    "notify": N_("'%(value)s' is listed twice"),
    "channels": N_("channel '%(value)s' is listed twice"),
}


def _distinct(values: list[str], message: str) -> list[str]:
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        fail(message, value=repeated[0])
    return values


class RoutingRule(_Model):
    """Who gets a matching memo, and on which channels."""

    when: When | None = None
    notify: list[ContactKey] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)

    @field_validator("notify", "channels")
    @classmethod
    def _no_repeats(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _distinct(value, _LISTED_TWICE[str(info.field_name)])


class EscalationStep(_Model):
    """What happens when a memo is still unacknowledged `after` its creation."""

    after: Duration
    # Optional shorter delay for urgent memos (defaults to `after`).
    urgent_after: Duration | None = None
    notify: list[ContactKey] | None = Field(default=None, min_length=1)
    channels: list[Channel] | None = Field(default=None, min_length=1)
    action: Literal["operator_callback"] | None = None

    @field_validator("notify", "channels")
    @classmethod
    def _no_repeats(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else _distinct(value, _LISTED_TWICE[str(info.field_name)])

    def delay(self, *, urgent: bool) -> timedelta:
        """How long after a memo's creation this step fires."""
        return self.urgent_after if urgent and self.urgent_after is not None else self.after

    @model_validator(mode="after")
    def _one_kind(self) -> EscalationStep:
        notifies = self.notify is not None or self.channels is not None
        if self.action is not None and notifies:
            fail(N_("a step either notifies (`notify:` + `channels:`) or has `action:`, not both"))
        if self.action is None and (self.notify is None or self.channels is None):
            fail(N_("a step needs `notify:` and `channels:`, or `action: operator_callback`"))
        if self.urgent_after is not None and self.urgent_after > self.after:
            fail(N_("`urgent_after:` is the shorter delay for urgent memos: at most `after:`"))
        return self


class Templates(_Model):
    """Overrides of the default memo formats, in Jinja2 (rendered in the sandbox)."""

    email_subject: str | None = None
    email_text: str | None = None
    email_html: str | None = None
    sms: str | None = None

    @field_validator("email_subject", "email_text", "email_html", "sms")
    @classmethod
    def _compiles(cls, source: str | None, info: ValidationInfo) -> str | None:
        if source is None:
            return None
        if len(source) > TEMPLATE_MAX_CHARS:
            fail(
                N_("the template is too long (at most %(max_length)s characters)"),
                max_length=TEMPLATE_MAX_CHARS,
            )
        # Tried when a company is saved, not each time a stored one is read: a rule added later
        # must not make a stored company unreadable (an override that fails when a memo is
        # sent gives way to the default format).
        if not (info.context or {}).get(TRY_TEMPLATES):
            return source
        # Compiled and tried on sample memos in the same bounded sandbox that sends memos.
        try:
            check_override(part=str(info.field_name), source=source)
        except TemplateError as error:
            # The sandbox says what is wrong in its own (English) words: kept as a value.
            if error.line:
                fail(
                    N_("line %(line)s of the template: %(reason)s"),
                    template_line=error.line,
                    line=error.line,
                    reason=error.reason,
                )
            fail(N_("the template cannot be used: %(reason)s"), reason=error.reason)
        return source

    @field_validator("email_subject")
    @classmethod
    def _one_line(cls, source: str | None) -> str | None:
        if source is not None and "\n" in source.strip():
            fail(N_("an email subject is one line"))
        return source.strip() if source is not None else None


class CompanyConfig(_Model):
    """One client company: who it is, what the operator says, where its memos go."""

    slug: Slug
    name: ShortText
    phone_numbers: list[E164] = Field(default_factory=list)
    locale: Locale = "ja"
    greeting: Text
    script: list[ScriptStep] = Field(default_factory=list)
    fields: list[MemoField] = Field(default_factory=list)
    contacts: list[Contact] = Field(min_length=1)
    destinations: list[Destination] = Field(default_factory=list)
    routing: list[RoutingRule] = Field(min_length=1)
    escalation: list[EscalationStep] = Field(default_factory=list)
    hours: Hours | None = None
    follow_up: FollowUp | None = None
    retention: Retention | None = None
    recap: Recap | None = None
    templates: Templates = Field(default_factory=Templates)

    @model_validator(mode="after")
    def _consistent(self) -> CompanyConfig:
        issues = _cross_check(self)
        if issues:
            loc, message, values = issues[0]
            reason = message % values if values else message
            raise PydanticCustomError(
                ISSUE_TYPE,
                "{reason}",
                {
                    "reason": reason,
                    "message": message,
                    "values": values,
                    "loc": loc,
                    "issues": issues,
                },
            )
        return self

    @property
    def country(self) -> str:
        """The ISO region of the company's first number; by locale when it has none."""
        for number in self.phone_numbers:
            region = region_of(number)
            if region:
                return region
        return _DEFAULT_COUNTRY[self.locale]

    def contact(self, key: str) -> Contact:
        """The contact with this key; KeyError if there is none."""
        for contact in self.contacts:
            if contact.key == key:
                return contact
        raise KeyError(key)

    def destination(self, key: str) -> Destination:
        """The destination with this key; KeyError if there is none."""
        for destination in self.destinations:
            if destination.key == key:
                return destination
        raise KeyError(key)

    def secret_names(self) -> set[str]:
        """Every stored secret this company's destinations name."""
        return {name for d in self.destinations for name in d.secret_names()}

    def is_open(self, moment: datetime) -> bool:
        """Whether the company takes non-urgent memos at `moment`; no hours means always."""
        return self.hours is None or self.hours.is_open(moment)

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` when open, else when the company next opens."""
        return moment if self.hours is None else self.hours.next_opening(moment)

    def follow_up_rule(self) -> FollowUp:
        """The company's follow-up rule, or the default one when it gives none."""
        return self.follow_up or DEFAULT_FOLLOW_UP

    def document(self) -> dict[str, Any]:
        """The JSON document as stored and exported: unset optional parts left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        for key in ("fields", "destinations", "escalation", "templates"):
            if not data[key]:
                del data[key]
        if "hours" in data and not data["hours"]["holidays"]:
            del data["hours"]["holidays"]
        return data


def _cross_check(config: CompanyConfig) -> list[Issue]:
    issues: list[Issue] = []
    issues += _repeats(
        "phone_numbers", config.phone_numbers, N_("number '%(value)s' is listed twice")
    )
    issues += _repeats(
        "fields",
        [field.key for field in config.fields],
        N_("field key '%(value)s' is listed twice"),
        "key",
    )
    issues += _repeats(
        "contacts",
        [c.key for c in config.contacts],
        N_("contact key '%(value)s' is listed twice"),
        "key",
    )
    contact_keys = {c.key for c in config.contacts}
    for index, destination in enumerate(config.destinations):
        if destination.key in contact_keys:
            message = N_("'%(value)s' is already a contact's key: a destination needs its own")
            issues.append((("destinations", index, "key"), message, {"value": destination.key}))
        fallback = destination.fallback
        if fallback is not None and (fallback == destination.key or not _known(config, fallback)):
            message = N_("`fallback:` names '%(value)s', which is no other contact or destination")
            issues.append((("destinations", index, "fallback"), message, {"value": fallback}))
    issues += _repeats(
        "destinations",
        [d.key for d in config.destinations],
        N_("destination key '%(value)s' is listed twice"),
        "key",
    )
    if config.follow_up is not None:
        for index, key in enumerate(config.follow_up.notify or []):
            if key not in contact_keys:
                message = N_("`notify:` names '%(value)s', which is no contact")
                issues.append((("follow_up", "notify", index), message, {"value": key}))
    declared = [field.key for field in config.fields]
    for index, script_step in enumerate(config.script):
        for name in script_step.field_names:
            if name not in declared and name not in STANDARD_FIELDS:
                loc: Loc = ("script", index, "field")
                if declared:
                    message = N_("field '%(name)s' is not declared under `fields:` (%(known)s)")
                    issues.append((loc, message, {"name": name, "known": ", ".join(declared)}))
                else:
                    message = N_("field '%(name)s' is not declared under `fields:` (none declared)")
                    issues.append((loc, message, {"name": name}))
    for index, rule in enumerate(config.routing):
        issues += _audience(config, ("routing", index), rule.notify, rule.channels)
        last = index == len(config.routing) - 1
        if rule.when is None and not last:
            message = N_(
                "only the last rule may leave out `when:` (the rules after it never apply)"
            )
            issues.append((("routing", index), message, {}))
        if rule.when is not None and last:
            message = N_(
                "the last rule is the default: leave out `when:` so every memo reaches someone"
            )
            issues.append((("routing", index, "when"), message, {}))
    previous = None
    for index, step in enumerate(config.escalation):
        if step.notify is not None and step.channels is not None:
            issues += _audience(config, ("escalation", index), step.notify, step.channels)
        if previous is not None and step.after < previous:
            message = N_("steps go in order of `after:`, but %(later)s comes after %(earlier)s")
            values = {"later": format_duration(step.after), "earlier": format_duration(previous)}
            issues.append((("escalation", index, "after"), message, values))
        previous = step.after
    return issues


def _repeats(section: str, values: list[str], message: str, key: str | None = None) -> list[Issue]:
    seen: set[str] = set()
    issues: list[Issue] = []
    for index, value in enumerate(values):
        if value in seen:
            loc: Loc = (section, index, key) if key else (section, index)
            issues.append((loc, message, {"value": value}))
        seen.add(value)
    return issues


def _known(config: CompanyConfig, key: str) -> bool:
    return any(c.key == key for c in config.contacts) or any(
        d.key == key for d in config.destinations
    )


def _audience(
    config: CompanyConfig, loc: Loc, notify: Sequence[str], channels: Sequence[str]
) -> list[Issue]:
    issues: list[Issue] = []
    known = [contact.key for contact in config.contacts]
    known += [destination.key for destination in config.destinations]
    reached: set[str] = set()
    for index, key in enumerate(notify):
        at: Loc = (*loc, "notify", index)
        if key not in known:
            message = N_("unknown contact '%(key)s' (contacts are: %(known)s)")
            if config.destinations:
                message = N_("unknown contact or destination '%(key)s' (known: %(known)s)")
            issues.append((at, message, {"key": key, "known": ", ".join(known)}))
            continue
        try:
            destination = config.destination(key)
        except KeyError:
            pass
        else:
            reached.add(destination.kind)
            if destination.kind not in channels:
                message = N_("'%(key)s' is a %(kind)s destination: add %(kind)s to `channels:`")
                issues.append((at, message, {"key": key, "kind": destination.kind}))
            continue
        contact = config.contact(key)
        if not any(channel in _CONTACT_CHANNELS for channel in channels):
            message = N_(
                "contact '%(key)s' is reached by email, sms or voice: add one to `channels:`"
            )
            issues.append((at, message, {"key": key}))
        reached.update(channel for channel in channels if channel in _CONTACT_CHANNELS)
        for channel in channels:
            if channel == "email" and contact.email is None:
                message = N_("contact '%(key)s' has no email, so cannot be notified by email")
                issues.append((at, message, {"key": key}))
            if channel in ("sms", "voice") and contact.phone is None:
                message = N_("contact '%(key)s' has no phone, so cannot be notified by %(channel)s")
                issues.append((at, message, {"key": key, "channel": channel}))
    for index, channel in enumerate(channels):
        if channel not in _CONTACT_CHANNELS and channel not in reached:
            message = N_("no destination in `notify:` is a %(kind)s destination")
            issues.append(((*loc, "channels", index), message, {"kind": channel}))
    return issues
