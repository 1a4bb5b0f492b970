"""Calls and callers as the API returns them: the console's named response shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.companies.config import MemoField, ScriptStep


class CallSummary(BaseModel):
    """A call as listed; `answered_by_name` names the operator who has it, if anyone does."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    call_sid: str
    client: str
    client_name: str
    from_: str = Field(alias="from")
    # `from` as people in the company's country write it (090-1111-2222), for display only.
    from_display: str
    to: str
    status: str
    source: str
    answered_by: str | None
    answered_by_name: str | None
    recording_url: str | None
    started_at: str


class CallList(BaseModel):
    items: list[CallSummary]


class CallerFlagOut(BaseModel):
    """A warning about a caller, with the name of who raised it."""

    id: str
    phone: str
    kind: str
    note: str
    flagged_by: str
    flagged_at: str


class CallerMemo(BaseModel):
    """An earlier memo from the same number."""

    id: str
    client: str
    client_name: str
    subject: str
    category: str
    status: str
    created_at: str


class CallerOut(BaseModel):
    """What an operator should know about a caller before saying a word."""

    phone: str
    phone_display: str
    earlier_calls: int
    repeat_caller: bool
    calls: list[CallSummary]
    memos: list[CallerMemo]
    flags: list[CallerFlagOut]


class CallCompany(BaseModel):
    """The company called, as its script stood when the phone rang."""

    slug: str
    name: str
    version: int
    locale: str
    greeting: str
    script: list[ScriptStep]
    fields: list[MemoField]


class CallDetail(CallSummary):
    """A call with everything the console shows: company, greeting, script, caller."""

    company: CallCompany
    caller: CallerOut
