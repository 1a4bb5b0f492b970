"""The client directory: saving companies with their history, finding them, syncing YAML files."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import clock
from service.companies.config import CompanyConfig
from service.companies.models import Company, CompanyPhoneNumber, CompanyVersion
from service.companies.yaml_io import (
    CompanyFileError,
    InvalidCompanyFiles,
    LoadedCompany,
    dump_company,
    load_company_file,
)
from service.errors import RelayError
from service.i18n import N_


class CompanyError(RelayError):
    """A change to the client directory that cannot be made; the message says why."""

    status = 409
    code = "conflict"


class PhoneNumberTaken(CompanyError):
    """A phone number already reaches another company."""

    code = "phone_number_taken"

    def __init__(self, *, e164: str, owner: str, claimant: str) -> None:
        super().__init__(
            N_(
                "%(number)s already belongs to %(owner)s;"
                " remove it there before giving it to %(claimant)s."
            ),
            field="phone_numbers",
            number=e164,
            owner=owner,
            claimant=claimant,
        )
        self.e164, self.owner, self.claimant = e164, owner, claimant


class SaveAction(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


@dataclass(frozen=True)
class SaveOutcome:
    """What saving one company did."""

    company: Company
    action: SaveAction


# Built once: every memo looks its company up, and building the query costs more than
# running it on a warm connection.
_COMPANY_BY_SLUG = select(Company).where(Company.slug == bindparam("slug"))


def get_company(*, session: Session, slug: str) -> Company | None:
    """The company with this slug, if any."""
    return session.exec(_COMPANY_BY_SLUG, params={"slug": slug}).first()


def list_companies(*, session: Session) -> list[Company]:
    """Every company, by slug."""
    return list(session.exec(select(Company).order_by(col(Company.slug))).all())


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


def company_versions(*, session: Session, company: Company) -> list[CompanyVersion]:
    """Every saved state of a company, oldest first."""
    query = (
        select(CompanyVersion)
        .where(CompanyVersion.company_id == company.id)
        .order_by(col(CompanyVersion.version))
    )
    return list(session.exec(query).all())


def _owner_slug(*, session: Session, e164: str) -> tuple[str, str] | None:
    row = session.get(CompanyPhoneNumber, e164)
    if row is None:
        return None
    owner = session.get(Company, row.company_id)
    return row.company_id, owner.slug if owner is not None else row.company_id


def save_company(*, session: Session, config: CompanyConfig, changed_by: str) -> SaveOutcome:
    """Create or replace a company; a real change is kept as a new version by `changed_by`."""
    document = config.document()
    company = get_company(session=session, slug=config.slug)
    if company is not None and company.config == document:
        return SaveOutcome(company=company, action=SaveAction.unchanged)
    for number in config.phone_numbers:
        owner = _owner_slug(session=session, e164=number)
        if owner is not None and (company is None or owner[0] != company.id):
            raise PhoneNumberTaken(e164=number, owner=owner[1], claimant=config.slug)
    now = clock.now()
    action = SaveAction.updated
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
            session.add(
                CompanyVersion(
                    company_id=company.id,
                    version=company.version,
                    config=document,
                    changed_by=changed_by,
                    changed_at=now,
                )
            )
            _set_numbers(session=session, company=company, numbers=config.phone_numbers)
    except IntegrityError:
        raise CompanyError(
            N_("%(slug)s was changed by someone else at the same time; try again."),
            code="edit_conflict",
            slug=config.slug,
        ) from None
    return SaveOutcome(company=company, action=action)


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


def sync_path(*, session: Session, path: Path, changed_by: str) -> list[SaveOutcome]:
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
        save_company(session=session, config=item.config, changed_by=changed_by) for item in loaded
    ]


def _numbers_of(*, session: Session, company: Company) -> list[str]:
    query = select(CompanyPhoneNumber.e164).where(CompanyPhoneNumber.company_id == company.id)
    return list(session.exec(query).all())


def export_all(*, session: Session, directory: Path) -> list[Path]:
    """Write every company to `<directory>/<slug>.yaml`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for company in list_companies(session=session):
        target = directory / f"{company.slug}.yaml"
        target.write_text(dump_company(company_config(company)), encoding="utf-8")
        written.append(target)
    return written
