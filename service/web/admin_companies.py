"""The admin's company pages: the list, the editor (forms and YAML), and the versions.

The forms are drawn and saved by /static/admin_company.js through the JSON API
(`/api/v1/clients/{slug}…`); the YAML view posts its text here, to be read by the same
loader as `relay clients sync` and saved by the same service.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from service.auth.models import User
from service.companies import service as companies
from service.companies.models import Company, CompanyPhoneNumber
from service.companies.values import region_of
from service.companies.yaml_io import InvalidCompanyFiles, dump_company, load_company
from service.errors import NotFound, RelayError
from service.http_deps import CurrentAdmin, OptionalUser, SessionDep, actor_of
from service.i18n import N_
from service.phones import display_for
from service.web.csrf import CsrfProtected
from service.web.pages import ADMIN_ROLES, refusal_page, render
from service.web.templating import page_locale

router = APIRouter(include_in_schema=False)

# Separators people write inside a phone number, in any width (NFKC has folded them first).
_NUMBER_PUNCTUATION = re.compile(r"[\s\-‐‑‒–—―ー()+.]")
YAML_MAX_CHARS = 200_000
PAGE_SIZE = 100
TIMEZONES = sorted(available_timezones())


@dataclass(frozen=True)
class CompanyRow:
    """One line of the company list: who, and the numbers it answers on as shown."""

    slug: str
    name: str
    numbers: list[tuple[str, str]]  # (E.164, as written for readers in its country)
    version: int
    # What a search looks in: the name folded, and every number's digits as written.
    folded_name: str = ""
    number_digits: tuple[str, ...] = ()

    def matches(self, query: str) -> bool:
        """Whether `query` (already folded) is in the name, the slug or one of the numbers."""
        if query in self.folded_name or query in self.slug:
            return True
        digits = _NUMBER_PUNCTUATION.sub("", query)
        if len(digits) < 2 or not digits.isdigit():
            return False
        return any(digits in written for written in self.number_digits)


def _fold(text: str) -> str:
    # Full-width letters and digits (ＡＢＣ, ０３) typed with a Japanese input method match too.
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _digits(text: str) -> str:
    return "".join(character for character in text if character.isdigit())


# A number's region and its written forms never change: the list of a thousand companies
# must not parse every number again on every request.
@lru_cache(maxsize=16_384)
def _region(e164: str) -> str:
    return region_of(e164) or ""


@lru_cache(maxsize=16_384)
def _shown(e164: str, country: str) -> str:
    return display_for(e164, country=country)


def _row(slug: str, name: str, version: int, numbers: list[str]) -> CompanyRow:
    # Written as at home in the country of the company's first number (as its pages do).
    country = next((_region(n) for n in numbers if _region(n)), "")
    shown = [(n, _shown(n, country) if country else n) for n in numbers]
    return CompanyRow(
        slug=slug,
        name=name,
        numbers=shown,
        version=version,
        folded_name=_fold(name),
        number_digits=tuple(_digits(written) for pair in shown for written in pair),
    )


# The rows as last read, by the state of the directory they were read in: any save adds a
# company (at version 1) or raises a version, and ids are random, so (sum of versions, latest
# change, lowest and highest id) names that state.
_rows_cache: dict[str, tuple[tuple[Any, ...], list[CompanyRow]]] = {}


def _all_rows(session: Session) -> list[CompanyRow]:
    state = tuple(
        session.exec(
            select(
                func.sum(Company.version),
                func.max(Company.updated_at),
                func.min(Company.id),
                func.max(Company.id),
            )
        ).one()
    )
    bind = session.get_bind()
    key = str(bind.url) if isinstance(bind, Engine) else str(id(bind))
    cached = _rows_cache.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    # Only the columns the list shows: a company's whole document is large, and the list
    # holds every company of the bureau.
    numbers: dict[str, list[str]] = {}
    for company_id, e164 in session.exec(
        select(CompanyPhoneNumber.company_id, CompanyPhoneNumber.e164).order_by(
            col(CompanyPhoneNumber.e164)
        )
    ):
        numbers.setdefault(company_id, []).append(e164)
    found = session.exec(
        select(Company.id, Company.slug, Company.name, Company.version).order_by(col(Company.slug))
    ).all()
    rows = [_row(slug, name, version, numbers.get(key, [])) for key, slug, name, version in found]
    _rows_cache[key] = (state, rows)
    return rows


def company_rows(*, session: Session, query: str) -> tuple[list[CompanyRow], int]:
    """The rows of the list (only those matching `query` when given), and how many in all."""
    rows = _all_rows(session)
    folded = _fold(query)
    return ([row for row in rows if row.matches(folded)] if folded else rows), len(rows)


def _refused(request: Request, user: User | None) -> Response | None:
    return refusal_page(request, user, ADMIN_ROLES)


@router.get("/admin")
def admin_home(request: Request, user: OptionalUser) -> Response:
    """The admin workspace starts at the company list."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    return RedirectResponse("/admin/companies", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/admin/companies")
def companies_page(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    q: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every client company, searchable by name, slug or number, a page at a time."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    rows, total = company_rows(session=session, query=q[:200])
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    context = {
        "user": user,
        "section": "companies",
        "rows": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "found": len(rows),
        "first": (page - 1) * PAGE_SIZE + 1,
        "page": page,
        "pages": pages,
        "q": q,
        "total": total,
    }
    return render(request, "admin_companies.html", context)


def _editor(request: Request, user: User, slug: str | None) -> Response:
    context = {
        "user": user,
        "section": "companies",
        "slug": slug,
        "timezones": TIMEZONES,
        # Read by admin_company.js: which company (none: a new one) and the page's language.
        "editor": {"slug": slug, "locale": page_locale(request)},
    }
    return render(request, "admin_company.html", context)


@router.get("/admin/companies/new")
def new_company_page(request: Request, user: OptionalUser) -> Response:
    """An empty company to fill in and save."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    assert user is not None
    return _editor(request, user, None)


def _company_or_404(session: SessionDep, slug: str) -> Company:
    company = companies.get_company(session=session, slug=slug)
    if company is None:
        raise NotFound(N_("No client company %(slug)s."), slug=slug)
    return company


@router.get("/admin/companies/{slug}")
def company_page(request: Request, slug: str, session: SessionDep, user: OptionalUser) -> Response:
    """One company in forms, with its live preview and test send."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    assert user is not None
    _company_or_404(session, slug)
    return _editor(request, user, slug)


@router.get("/admin/companies/{slug}/versions")
def versions_page(request: Request, slug: str, session: SessionDep, user: OptionalUser) -> Response:
    """A company's saved versions: who and when, what changed between two, and restore."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    company = _company_or_404(session, slug)
    context = {
        "user": user,
        "section": "companies",
        "company": company,
        "versions_data": {"slug": slug, "version": company.version},
    }
    return render(request, "admin_company_versions.html", context)


def _yaml_page(
    request: Request,
    *,
    user: User,
    company: Company,
    text: str,
    version: int,
    problems: list[dict[str, Any]] | None = None,
    stale: bool = False,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    context = {
        "user": user,
        "section": "companies",
        "company": company,
        "text": text,
        "version": version,
        "problems": problems or [],
        "stale": stale,
        "saved": request.query_params.get("saved", ""),
    }
    return render(request, "admin_company_yaml.html", context, status_code=status_code)


@router.get("/admin/companies/{slug}/yaml")
def yaml_page(request: Request, slug: str, session: SessionDep, user: OptionalUser) -> Response:
    """The whole company as one YAML document, to edit at once."""
    refused = _refused(request, user)
    if refused is not None:
        return refused
    assert user is not None
    company = _company_or_404(session, slug)
    text = dump_company(companies.company_config(company))
    return _yaml_page(request, user=user, company=company, text=text, version=company.version)


@router.post("/admin/companies/{slug}/yaml")
def save_yaml(
    request: Request,
    slug: str,
    session: SessionDep,
    # A dependency, so that whoever may not save is refused before the form is even read.
    user: CurrentAdmin,
    _: CsrfProtected,
    text: Annotated[str, Form(max_length=YAML_MAX_CHARS)],
    version: Annotated[int, Form()],
) -> Response:
    """Read the YAML as `relay clients sync` does and save it as a new version."""
    company = _company_or_404(session, slug)

    def again(
        *, code: int, problems: list[dict[str, Any]] | None = None, stale: bool = False
    ) -> Response:
        # The page again with the text as it was sent: nothing typed is lost.
        return _yaml_page(
            request,
            user=user,
            company=company,
            text=text,
            version=version,
            problems=problems,
            stale=stale,
            status_code=code,
        )

    if version != company.version:
        # Someone saved after this page was drawn: keep the text, say so, save nothing.
        return again(code=status.HTTP_412_PRECONDITION_FAILED, stale=True)
    try:
        loaded = load_company(text, file="yaml")
    except InvalidCompanyFiles as error:
        locale = page_locale(request)
        problems = [_problem(issue.line, issue.field, issue.text(locale)) for issue in error.errors]
        return again(code=status.HTTP_422_UNPROCESSABLE_CONTENT, problems=problems)
    if loaded.config.slug != slug:
        reason = f"{loaded.config.slug!r} differs from this company's slug {slug!r}"
        return again(
            code=status.HTTP_422_UNPROCESSABLE_CONTENT, problems=[_problem(1, "slug", reason)]
        )
    actor = actor_of(request, user)
    try:
        # The same save as the API's: a version, its audit entry, and If-Match's refusal.
        outcome = companies.save_company(
            session=session,
            config=loaded.config,
            changed_by=user.email,
            expected_version=version,
            actor=actor,
        )
    except companies.VersionConflict:
        return again(code=status.HTTP_412_PRECONDITION_FAILED, stale=True)
    except RelayError as error:
        problem = _problem(None, error.field, error.text(page_locale(request)))
        return again(code=error.status, problems=[problem])
    return RedirectResponse(
        f"/admin/companies/{slug}/yaml?saved={outcome.company.version}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


def _problem(line: int | None, field: str | None, reason: str) -> dict[str, Any]:
    return {"line": line, "field": field or "", "reason": reason}
