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


class CallerNoteOut(BaseModel):
    """A note a company or the bureau keeps about a caller of that company."""

    id: str
    client: str
    client_name: str
    phone: str
    text: str
    written_by: str
    # True when bureau staff wrote it, False when one of the company's own users did.
    written_by_bureau: bool
    written_at: str


class CallerNoteList(BaseModel):
    items: list[CallerNoteOut]


class CallerPolicyOut(BaseModel):
    """How a company wants a caller handled, and for how many minutes at most."""

    client: str
    client_name: str
    phone: str
    text: str
    time_limit_minutes: int | None
    set_by: str
    set_at: str


class CallerPolicyList(BaseModel):
    items: list[CallerPolicyOut]


class CallerOut(BaseModel):
    """What an operator should know about a caller before saying a word."""

    phone: str
    phone_display: str
    earlier_calls: int
    repeat_caller: bool
    calls: list[CallSummary]
    memos: list[CallerMemo]
    flags: list[CallerFlagOut]
    # The called company's policy for this caller and its latest notes, newest first; none
    # when no company is in question (a caller looked up on their own).
    policy: CallerPolicyOut | None = None
    notes: list[CallerNoteOut] = []


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
