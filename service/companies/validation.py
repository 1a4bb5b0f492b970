"""Turning a company document into a CompanyConfig, with every refusal named by field and reason."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from service.companies.config import TRY_TEMPLATES, CompanyConfig
from service.companies.values import ISSUE_TYPE
from service.errors import FieldProblem, Invalid
from service.i18n import N_, translate

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigIssue:
    """One reason a company document is refused; `loc` is the path to the offending value.

    `message` is a catalogue id (English, `%(name)s` placeholders) filled with `values` only
    after it is translated, so each reader gets the reason in their own language."""

    loc: Loc
    message: str
    values: Mapping[str, object] = dataclass_field(default_factory=dict)
    # For a template that does not compile: the line within the template.
    template_line: int | None = None

    @property
    def reason(self) -> str:
        """The reason in English, as the command line and the logs say it."""
        return _fill(self.message, self.values)

    def text(self, locale: str) -> str:
        """The reason in `locale`, its values filled in."""
        return _fill(translate(locale, self.message), self.values)

    @property
    def field(self) -> str:
        """The path written for people, e.g. `contacts[1].phone`."""
        return field_path(self.loc)

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.loc else self.reason


class CompanyConfigError(Invalid):
    """A company document that cannot be accepted; `issues` says every reason."""

    code = "invalid_company"

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("%(issues)s", issues="; ".join(str(issue) for issue in issues))
        self.issues = issues

    def problems(self, locale: str) -> list[FieldProblem]:
        """Every issue, its field a dotted path in the document (`contacts.1.phone`)."""
        return [
            FieldProblem(
                field=".".join(str(part) for part in issue.loc),
                code=self.code,
                message=issue.text(locale),
            )
            for issue in self.issues
        ]

    def text(self, locale: str) -> str:
        """Every issue in `locale`, as `field: reason; …`."""
        return "; ".join(
            f"{issue.field}: {issue.text(locale)}" if issue.loc else issue.text(locale)
            for issue in self.issues
        )


def _fill(message: str, values: Mapping[str, object]) -> str:
    return message % dict(values) if values else message


def field_path(loc: Loc) -> str:
    """`("contacts", 1, "phone")` as `contacts[1].phone`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def validate_document(data: Any) -> CompanyConfig:
    """The CompanyConfig of a §4 document, or CompanyConfigError listing every problem."""
    if not isinstance(data, dict):
        message = N_("a company is a mapping of keys (slug, name, greeting, contacts, routing, …)")
        raise CompanyConfigError([ConfigIssue((), message)])
    try:
        return CompanyConfig.model_validate(data, context={TRY_TEMPLATES: True})
    except ValidationError as error:
        issues = [issue for detail in error.errors() for issue in _issues(detail)]
        raise CompanyConfigError(issues) from None


def _issues(detail: ErrorDetails) -> list[ConfigIssue]:
    loc: Loc = tuple(detail["loc"])
    ctx = detail.get("ctx") or {}
    if detail["type"] == ISSUE_TYPE:
        if "issues" in ctx:
            return [
                ConfigIssue((*loc, *sub), message, values) for sub, message, values in ctx["issues"]
            ]
        return [
            ConfigIssue(
                (*loc, *ctx.get("loc", ())),
                ctx["message"],
                ctx.get("values") or {},
                ctx.get("template_line"),
            )
        ]
    message, values = _reason(detail, loc)
    return [ConfigIssue(loc, message, values)]


def _reason(detail: ErrorDetails, loc: Loc) -> tuple[str, dict[str, object]]:
    kind, ctx, given = detail["type"], detail.get("ctx") or {}, detail.get("input")
    if kind == "missing":
        return N_("required, but missing"), {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        if allowed:
            message = N_("unknown key '%(key)s' (expected one of: %(allowed)s)")
            return message, {"key": loc[-1], "allowed": ", ".join(allowed)}
        return N_("unknown key '%(key)s'"), {"key": loc[-1]}
    if kind == "literal_error":
        message = N_("'%(value)s' is not allowed here: use %(expected)s")
        return message, {"value": given, "expected": ctx.get("expected")}
    if kind == "too_short":
        return N_("must list at least %(min_length)s"), {"min_length": ctx.get("min_length", 1)}
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return N_("must be a mapping of keys and values"), {}
    if kind == "list_type":
        return N_("must be a list"), {}
    if kind == "string_type":
        return N_("must be text"), {}
    if kind in ("bool_type", "bool_parsing"):
        return N_("must be true or false"), {}
    if kind.startswith("date"):
        return N_("'%(value)s' is not a date: write it like 2026-01-01"), {"value": given}
    # Pydantic's own words for a case not named above: kept as a value.
    return N_("not accepted: %(detail)s"), {"detail": str(detail["msg"])}


def _allowed_keys(loc: Loc) -> list[str]:
    model: type[BaseModel] | None = CompanyConfig
    for part in loc:
        if model is None:
            return []
        if isinstance(part, str):
            info = model.model_fields.get(part)
            model = _model_in(info.annotation) if info is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
