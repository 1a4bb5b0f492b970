"""Setting, listing, reading and deleting stored secrets; values are encrypted at rest."""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import TypeAdapter
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from service import clock
from service.audit.service import Action, Actor, record
from service.companies.destinations import Destination
from service.companies.service import list_companies
from service.db import reader
from service.errors import Invalid, NotFound
from service.i18n import N_
from service.secrets.models import Secret
from service.settings import Settings

log = logging.getLogger(__name__)

# As a company's document names a secret (service/companies/destinations.py).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_VALUE_LENGTH = 16384
_DESTINATIONS: TypeAdapter[list[Destination]] = TypeAdapter(list[Destination])
# Changing it makes every stored value unreadable: it names this derivation, for good.
_KEY_INFO = b"relay.secrets.v1"


@dataclass(frozen=True)
class SecretInfo:
    """What may be known of a secret: never its value."""

    name: str
    set_at: datetime
    set_by: str


@dataclass(frozen=True)
class SecretUse:
    """A company's destination that names a secret."""

    company_slug: str
    company_name: str
    destination: str


def check_name(name: str) -> str:
    """`name` if it can name a secret; refused (422, field `name`) otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise Invalid(
            N_(
                "A secret's name is up to 64 of a-z, 0-9, '.', '-' and '_', starting with a "
                "letter or digit, e.g. acme-chatwork."
            ),
            field="name",
            code="bad_secret_name",
        )
    return name


def check_value(value: str) -> str:
    """`value` without surrounding whitespace; refused (422, field `value`) if empty or too long."""
    value = value.strip()
    if not value:
        raise Invalid(N_("This field is required."), field="value", code="missing")
    if len(value) > MAX_VALUE_LENGTH:
        raise Invalid(
            N_("Too long: at most %(max_length)s characters."),
            field="value",
            code="too_long",
            max_length=MAX_VALUE_LENGTH,
        )
    return value


@functools.lru_cache(maxsize=4)
def _fernet_for(key_material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        key_material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet(settings: Settings) -> MultiFernet:
    # Seals with the current key; opens with it or any previous one until `relay secrets
    # rotate` has sealed everything again with the current key.
    return MultiFernet([_fernet_for(key) for key in settings.verifying_secrets()])


def _seal(settings: Settings, name: str, value: str) -> str:
    # The name is sealed with the value, so a ciphertext copied to another row does not read.
    plain = json.dumps({"name": name, "value": value}, ensure_ascii=False)
    return _fernet(settings).encrypt(plain.encode()).decode("ascii")


def _open(settings: Settings, name: str, ciphertext: str) -> str | None:
    try:
        plain = json.loads(_fernet(settings).decrypt(ciphertext.encode("ascii")))
    except (InvalidToken, UnicodeError, ValueError):
        plain = None
    if not isinstance(plain, dict) or plain.get("name") != name:
        log.warning(
            "secret %r no longer decrypts (was RELAY_SECRET_KEY changed without the old key in "
            "RELAY_PREVIOUS_SECRET_KEYS?); set it again",
            name,
        )
        return None
    value = plain.get("value")
    return value if isinstance(value, str) else None


def _info(row: Secret) -> SecretInfo:
    return SecretInfo(name=row.name, set_at=row.set_at, set_by=row.set_by)


def set_secret(
    *, session: Session, name: str, value: str, settings: Settings, actor: Actor
) -> SecretInfo:
    """Store `value` under `name`, encrypted, replacing any value it had."""
    check_name(name)
    value = check_value(value)
    row = session.get(Secret, name)
    if row is None:
        row = Secret(name=name, ciphertext="", set_at=clock.now(), set_by="")
    row.ciphertext = _seal(settings, name, value)
    row.set_at = clock.now()
    row.set_by = actor.name[:320]
    row.set_by_id = actor.user_id
    session.add(row)
    record(session=session, actor=actor, action=Action.secret_set, target=f"secret:{name}")
    return _info(row)


def delete_secret(*, session: Session, name: str, actor: Actor) -> None:
    """Forget the secret `name`; NotFound when there is none."""
    check_name(name)
    row = session.get(Secret, name)
    if row is None:
        raise NotFound(N_("There is no secret by this name."), code="no_such_secret")
    session.delete(row)
    session.flush()
    record(session=session, actor=actor, action=Action.secret_deleted, target=f"secret:{name}")


@dataclass(frozen=True)
class Rotation:
    """What `rotate_secrets` did: how many values it sealed again, and which it could not read."""

    rotated: int
    unreadable: list[str]


def rotate_secrets(*, session: Session, settings: Settings, actor: Actor) -> Rotation:
    """Seal every stored value again with the current key, so previous keys may be dropped."""
    # Locked, so a value set meanwhile is not overwritten with the one read here.
    rows = session.exec(select(Secret).order_by(col(Secret.name)).with_for_update()).all()
    rotated = 0
    unreadable: list[str] = []
    for row in rows:
        value = _open(settings, row.name, row.ciphertext)
        if value is None:
            # Left as it is: dropping it would lose what a key not listed now might still read.
            unreadable.append(row.name)
            continue
        # Sealed as a value set anew is: with the current key.
        row.ciphertext = _seal(settings, row.name, value)
        session.add(row)
        rotated += 1
    detail = {"rotated": str(rotated)}
    if unreadable:
        detail["unreadable"] = ", ".join(unreadable)
    record(
        session=session, actor=actor, action=Action.secrets_rotated, target="secrets", detail=detail
    )
    return Rotation(rotated=rotated, unreadable=unreadable)


def list_secrets(*, session: Session) -> list[SecretInfo]:
    """Every stored secret by name, without its value."""
    rows = session.exec(
        select(Secret.name, Secret.set_at, Secret.set_by).order_by(col(Secret.name))
    ).all()
    return [SecretInfo(name=name, set_at=set_at, set_by=set_by) for name, set_at, set_by in rows]


def read_secret(*, session: Session, name: str, settings: Settings) -> str | None:
    """The value stored under `name`; None when there is none or it no longer decrypts."""
    row = session.get(Secret, name)
    if row is None:
        return None
    return _open(settings, name, row.ciphertext)


def secret_uses(*, session: Session) -> dict[str, list[SecretUse]]:
    """For every secret a company's destination names, which destinations name it."""
    uses: dict[str, list[SecretUse]] = {}
    for company in list_companies(session=session):
        # Only the destinations are read, not the whole document: a page listing every
        # company's must not push the memos' companies out of company_config's cache.
        stored = company.config.get("destinations")
        if not stored:
            continue
        for destination in _DESTINATIONS.validate_python(stored):
            for name in dict.fromkeys(destination.secret_names()):
                uses.setdefault(name, []).append(
                    SecretUse(
                        company_slug=company.slug,
                        company_name=company.name,
                        destination=destination.label,
                    )
                )
    return dict(sorted(uses.items()))


class SecretReader:
    """Reads secrets for the chat providers, from the database each time: a value set again
    is used from the next send on, with no restart."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = reader(engine)
        self._settings = settings

    async def get(self, name: str) -> str | None:
        """The value of `name`, read in a worker thread; None when unset or unreadable."""
        return await anyio.to_thread.run_sync(self.get_now, name)

    def get_now(self, name: str) -> str | None:
        """The value of `name`, read now in this thread; None when unset or unreadable."""
        with Session(self._engine) as session:
            return read_secret(session=session, name=name, settings=self._settings)
