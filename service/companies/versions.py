"""What a version changed, said in one line, and a line diff between two versions' YAML."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from service.companies.config import CompanyConfig
from service.companies.yaml_io import dump_company
from service.i18n import N_, translate

# The top-level keys of a company document (CONTRACT §4) as a summary names them, in order.
KEY_LABELS = {
    "slug": N_("slug"),
    "name": N_("company name"),
    "phone_numbers": N_("phone numbers"),
    "locale": N_("language"),
    "greeting": N_("greeting"),
    "script": N_("script"),
    "fields": N_("memo fields"),
    "contacts": N_("contacts"),
    "routing": N_("routing"),
    "escalation": N_("escalation"),
    "hours": N_("hours"),
    "templates": N_("templates"),
}
CREATED = N_("created")
CHANGED = N_("%(keys)s changed")
RESTORED = N_("restored version %(version)s")
RESTORED_CHANGED = N_("restored version %(version)s: %(keys)s changed")
# TRANSLATORS: between the names of the changed parts of a company ("greeting, contacts").
SEPARATOR = N_(", ")


def changed_keys(*, before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The top-level keys whose value differs, in document order; every key of a new company."""
    if before is None:
        return []
    keys = [key for key in KEY_LABELS if before.get(key) != after.get(key)]
    # Keys a later release may add still count, after the known ones.
    keys += sorted(
        key
        for key in set(before) | set(after)
        if key not in KEY_LABELS and before.get(key) != after.get(key)
    )
    return keys


def summary_text(*, locale: str, changed: list[str], restored_from: int | None) -> str:
    """One line saying what a version did, in `locale` ("greeting, contacts changed")."""
    keys = translate(locale, SEPARATOR).join(
        translate(locale, KEY_LABELS[key]) if key in KEY_LABELS else key for key in changed
    )
    if restored_from is not None:
        message = RESTORED_CHANGED if keys else RESTORED
        return translate(locale, message) % {"version": restored_from, "keys": keys}
    if not changed:
        return translate(locale, CREATED)
    return translate(locale, CHANGED) % {"keys": keys}


def document_yaml(document: dict[str, Any]) -> str:
    """A stored document written as its YAML file, for reading and comparing."""
    return dump_company(CompanyConfig.model_validate(document))


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: kept as it was, added, or removed."""

    op: Literal["same", "add", "remove"]
    text: str


def diff_lines(*, before: str, after: str) -> list[DiffLine]:
    """Every line of both texts in order, each marked same, add or remove."""
    old, new = before.splitlines(), after.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines.extend(DiffLine("same", text) for text in old[i1:i2])
            continue
        lines.extend(DiffLine("remove", text) for text in old[i1:i2])
        lines.extend(DiffLine("add", text) for text in new[j1:j2])
    return lines
