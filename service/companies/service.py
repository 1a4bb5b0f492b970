"""The client directory: saving companies with their history, finding them, syncing YAML files."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import bindparam, delete
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from service import clock
from service.audit.service import Action, Actor, record
from service.companies.config import CompanyConfig
from service.companies.models import Company, CompanyPhoneNumber, CompanyTestSend, CompanyVersion
from service.companies.versions import changed_keys, summary_text
from service.companies.yaml_io import (
    CompanyFileError,
    InvalidCompanyFiles,
    LoadedCompany,
    dump_company,
    load_company_file,
)
from service.errors import RelayError
from service.i18n import N_, format_moment


class CompanyError(RelayError):
    """A change to the client directory that cannot be made; the message says why."""

    status = 409
    code = "conflict"


class PhoneNumberTaken(CompanyError):
    """A phone number already reaches another company."""

    code = "phone_number_taken"

    def __init__(self, *, e164: str, owner: str, claimant: str, index: int = 0) -> None:
        super().__init__(
            N_(
                "%(number)s already belongs to %(owner)s;"
                " remove it there before giving it to %(claimant)s."
            ),
            # The very entry, so a form can mark the number that clashes.
            field=f"phone_numbers.{index}",
            number=e164,
            owner=owner,
            claimant=claimant,
        )
        self.e164, self.owner, self.claimant = e164, owner, claimant


class VersionConflict(CompanyError):
    """A save based on a version someone else has since replaced: nothing is saved."""

    status = 412
    code = "version_conflict"

    def __init__(self, *, slug: str, expected: int, current: CompanyVersion | None) -> None:
        # Plain values: the message is written after the session that read them has closed.
        self.saved_at = current.changed_at if current is not None else None
        if current is None:
            super().__init__(
                N_("%(slug)s has no version %(expected)s; reload it and make your change again."),
                slug=slug,
                expected=expected,
            )
        else:
            super().__init__(
                N_(
                    "%(slug)s was saved by %(by)s at %(at)s (version %(version)s) after the"
                    " version %(expected)s you edited; reload it and make your change again."
                ),
                slug=slug,
                by=current.changed_by,
                at=_utc_moment(current.changed_at, locale="en"),
                version=current.version,
                expected=expected,
            )

    def text(self, locale: str) -> str:
        """The message in `locale`, the time of the newer save written as its readers write it."""
        if self.saved_at is not None:
            self.values["at"] = _utc_moment(self.saved_at, locale=locale)
        return super().text(locale)


def _utc_moment(moment: datetime, *, locale: str) -> str:
    return f"{format_moment(moment, locale=locale, zone=UTC)} UTC"


class SaveAction(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


@dataclass(frozen=True)
class SaveOutcome:
    """What saving one company did."""

    company: Company
    action: SaveAction
    # The version written; None when nothing changed.
    version: CompanyVersion | None = None


# Built once: every memo looks its company up, and building the query costs more than
# running it on a warm connection.
_COMPANY_BY_SLUG = select(Company).where(Company.slug == bindparam("slug"))


# The memos that were test sends: lists of memos and the board leave them out with
# `col(Memo.id).not_in(TEST_MEMO_IDS)`.
TEST_MEMO_IDS = select(CompanyTestSend.memo_id)


def get_company(*, session: Session, slug: str) -> Company | None:
    """The company with this slug, if any."""
    return session.exec(_COMPANY_BY_SLUG, params={"slug": slug}).first()


def list_companies(*, session: Session) -> list[Company]:
    """Every company, by slug."""
    return list(session.exec(select(Company).order_by(col(Company.slug))).all())


@dataclass(frozen=True)
class CompanySummary:
    """What a list of companies shows, read without their documents."""

    id: str
    slug: str
    name: str
    version: int
    updated_at: datetime
    phone_numbers: list[str]


def company_summaries(*, session: Session) -> list[CompanySummary]:
    """Every company by slug with its numbers, in two light queries (no documents parsed)."""
    numbers: dict[str, list[str]] = {}
    for e164, company_id in session.exec(
        select(CompanyPhoneNumber.e164, CompanyPhoneNumber.company_id).order_by(
            col(CompanyPhoneNumber.e164)
        )
    ):
        numbers.setdefault(company_id, []).append(e164)
    table = SQLModel.metadata.tables[Company.__tablename__]
    columns = sa_select(
        table.c.id, table.c.slug, table.c.name, table.c.version, table.c.updated_at
    ).order_by(table.c.slug)
    rows = session.execute(columns).all()
    return [
        CompanySummary(
            id=row[0],
            slug=row[1],
            name=row[2],
            version=row[3],
            updated_at=row[4],
            phone_numbers=numbers.get(row[0], []),
        )
        for row in rows
    ]


def find_company_by_phone(*, session: Session, e164: str) -> Company | None:
    """The company a call to this E.164 number is for, if any."""
    row = session.get(CompanyPhoneNumber, e164)
    return session.get(Company, row.company_id) if row is not None else None


# Parsed configurations by (company, version): a version's document never changes, and
# parsing it (with its template checks) on every memo would cost more than the memo.
_parsed: dict[tuple[str, int, str], CompanyConfig] = {}
_PARSED_MAX = 512


def company_config(company: Company) -> CompanyConfig:
    """The typed configuration of a stored company."""
    key = (company.id, company.version, company.updated_at.isoformat())
    config = _parsed.get(key)
    if config is None:
        config = CompanyConfig.model_validate(company.config)
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[key] = config
    return config


def company_versions(
    *, session: Session, company: Company, newest_first: bool = False
) -> list[CompanyVersion]:
    """Every saved state of a company, oldest first (or newest first)."""
    order = col(CompanyVersion.version)
    query = (
        select(CompanyVersion)
        .where(CompanyVersion.company_id == company.id)
        .order_by(order.desc() if newest_first else order)
    )
    return list(session.exec(query).all())


def _owner_slug(*, session: Session, e164: str) -> tuple[str, str] | None:
    row = session.get(CompanyPhoneNumber, e164)
    if row is None:
        return None
    owner = session.get(Company, row.company_id)
    return row.company_id, owner.slug if owner is not None else row.company_id


def latest_version(*, session: Session, company: Company) -> CompanyVersion | None:
    """The version row of the company's current state (None for a row saved without one)."""
    return version_of(session=session, company=company, version=company.version)


def version_of(*, session: Session, company: Company, version: int) -> CompanyVersion | None:
    """One saved state of a company, if it has that version."""
    query = select(CompanyVersion).where(
        CompanyVersion.company_id == company.id, CompanyVersion.version == version
    )
    return session.exec(query).first()


def check_version(*, session: Session, company: Company | None, slug: str, expected: int) -> None:
    """VersionConflict unless `expected` is the company's current version."""
    if company is None:
        raise VersionConflict(slug=slug, expected=expected, current=None)
    if company.version != expected:
        current = latest_version(session=session, company=company)
        raise VersionConflict(slug=slug, expected=expected, current=current)


def save_company(
    *,
    session: Session,
    config: CompanyConfig,
    changed_by: str,
    expected_version: int | None = None,
    restored_from: int | None = None,
    actor: Actor | None = None,
) -> SaveOutcome:
    """Create or replace a company; a real change is kept as a new version by `changed_by`.

    With `expected_version`, the save is refused (VersionConflict) unless that is still the
    company's version. With `actor`, a change is also written to the audit trail.
    """
    document = config.document()
    company = get_company(session=session, slug=config.slug)
    if expected_version is not None:
        check_version(session=session, company=company, slug=config.slug, expected=expected_version)
    if company is not None and company.config == document:
        return SaveOutcome(company=company, action=SaveAction.unchanged)
    for index, number in enumerate(config.phone_numbers):
        owner = _owner_slug(session=session, e164=number)
        if owner is not None and (company is None or owner[0] != company.id):
            raise PhoneNumberTaken(e164=number, owner=owner[1], claimant=config.slug, index=index)
    now = clock.now()
    action = SaveAction.updated
    before = company.config if company is not None else None
    changed = changed_keys(before=before, after=document)
    summary = summary_text(locale="en", changed=changed, restored_from=restored_from)
    try:
        # A savepoint, so a concurrent save of the same slug or number is refused, not a 500.
        with session.begin_nested():
            if company is None:
                action = SaveAction.created
                company = Company(
                    slug=config.slug, name=config.name, config=document, updated_at=now
                )
                session.add(company)
            else:
                company.version += 1
                company.name, company.config, company.updated_at = config.name, document, now
            session.flush()
            version = CompanyVersion(
                company_id=company.id,
                version=company.version,
                config=document,
                changed_by=changed_by,
                changed_at=now,
                summary=summary,
                changed=changed,
                restored_from=restored_from,
            )
            session.add(version)
            _set_numbers(session=session, company=company, numbers=config.phone_numbers)
    except IntegrityError:
        raise CompanyError(
            N_("%(slug)s was changed by someone else at the same time; try again."),
            code="edit_conflict",
            slug=config.slug,
        ) from None
    if actor is not None:
        record(
            session=session,
            actor=actor,
            action=Action.company_restored if restored_from else Action.company_saved,
            target=f"company:{company.slug}",
            company_id=company.id,
            detail=_audit_detail(version),
        )
    return SaveOutcome(company=company, action=action, version=version)


def _audit_detail(version: CompanyVersion) -> dict[str, str]:
    detail = {
        "version": str(version.version),
        "summary": version.summary,
        "changed": ",".join(version.changed),
    }
    if version.restored_from is not None:
        detail["restored_from"] = str(version.restored_from)
    return detail


def _set_numbers(*, session: Session, company: Company, numbers: list[str]) -> None:
    rows = session.exec(
        select(CompanyPhoneNumber).where(CompanyPhoneNumber.company_id == company.id)
    ).all()
    for row in rows:
        if row.e164 not in numbers:
            session.delete(row)
    session.flush()
    present = {row.e164 for row in rows}
    for number in numbers:
        if number not in present:
            session.add(CompanyPhoneNumber(e164=number, company_id=company.id))
    session.flush()


def _company_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise CompanyError(
                N_("%(path)s: no *.yaml or *.yml files in this folder."), status=400, path=path
            )
        return files
    raise CompanyError(N_("%(path)s: no such file or folder."), status=400, path=path)


def load_path(*, session: Session, path: Path) -> list[LoadedCompany]:
    """Every company file at `path`, all valid and consistent, or InvalidCompanyFiles."""
    loaded: list[LoadedCompany] = []
    errors: list[CompanyFileError] = []
    for file in _company_files(path):
        try:
            loaded.append(load_company_file(file))
        except InvalidCompanyFiles as error:
            errors.extend(error.errors)
    errors.extend(_conflicts(session=session, loaded=loaded))
    if errors:
        raise InvalidCompanyFiles(errors)
    return loaded


def _conflicts(*, session: Session, loaded: list[LoadedCompany]) -> list[CompanyFileError]:
    errors: list[CompanyFileError] = []
    slugs: dict[str, str] = {}
    numbers: dict[str, LoadedCompany] = {}
    in_sync = {item.config.slug: item.config for item in loaded}
    for item in loaded:
        slug = item.config.slug
        if slug in slugs:
            errors.append(item.error(("slug",), f"slug {slug!r} is also used by {slugs[slug]}"))
            continue
        slugs[slug] = item.file
        for index, number in enumerate(item.config.phone_numbers):
            loc = ("phone_numbers", index)
            if number in numbers:
                other = numbers[number]
                reason = f"{number} is also a number of {other.config.slug} ({other.file})"
                errors.append(item.error(loc, reason))
                continue
            numbers[number] = item
            owner = _owner_slug(session=session, e164=number)
            # A number may move between two companies synced together: the other one lets it go.
            released = owner is not None and owner[1] in in_sync
            if owner is not None and owner[1] != slug and not released:
                reason = f"{number} already belongs to {owner[1]}; remove it there first"
                errors.append(item.error(loc, reason))
    return errors


def sync_path(
    *, session: Session, path: Path, changed_by: str, actor: Actor | None = None
) -> list[SaveOutcome]:
    """Create or update the companies of one YAML file or a folder; all of them or none."""
    loaded = load_path(session=session, path=path)
    # Let go of numbers the companies no longer have first, so one can move to another company.
    for item in loaded:
        company = get_company(session=session, slug=item.config.slug)
        if company is not None:
            kept = [
                n
                for n in _numbers_of(session=session, company=company)
                if n in item.config.phone_numbers
            ]
            _set_numbers(session=session, company=company, numbers=kept)
    return [
        save_company(session=session, config=item.config, changed_by=changed_by, actor=actor)
        for item in loaded
    ]


def has_companies(*, session: Session) -> bool:
    """Whether the directory holds any company at all."""
    return session.exec(select(Company.id).limit(1)).first() is not None


def _numbers_of(*, session: Session, company: Company) -> list[str]:
    query = select(CompanyPhoneNumber.e164).where(CompanyPhoneNumber.company_id == company.id)
    return list(session.exec(query).all())


def export_all(*, session: Session, directory: Path) -> list[Path]:
    """Write every company to `<directory>/<slug>.yaml`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for company in list_companies(session=session):
        target = directory / f"{company.slug}.yaml"
        target.write_text(company_yaml(company), encoding="utf-8")
        written.append(target)
    return written


def company_yaml(company: Company) -> str:
    """The company's current document as the YAML file that `sync` reads back unchanged."""
    return dump_company(company_config(company))


def delete_test_sends(*, session: Session, memo_ids: Collection[str]) -> None:
    """Forget that these memos were test sends (their memos are being deleted)."""
    if memo_ids:
        session.exec(delete(CompanyTestSend).where(col(CompanyTestSend.memo_id).in_(memo_ids)))
