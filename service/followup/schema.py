"""How a company handled a memo, and by when it should, as they are entered."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from service.errors import Invalid
from service.i18n import N_

MAX_TEXT = 2000


def _nfc(text: str) -> str:
    # Composed form, so the same words typed on different machines are stored alike; width
    # (全角/半角) is kept as the person wrote it.
    return unicodedata.normalize("NFC", text)


def _not_blank(text: str) -> str:
    if not text:
        raise Invalid(N_("This field must not be empty."), code="missing")
    return text


ResolutionText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_TEXT),
    AfterValidator(_nfc),
]


class ResolutionIn(BaseModel):
    """What the company did about a memo (対応内容), why it happened (原因), how it ended
    (結果), and whether that closes it."""

    model_config = ConfigDict(extra="forbid")

    response: Annotated[ResolutionText, AfterValidator(_not_blank)]
    cause: ResolutionText = ""
    result: ResolutionText = ""
    resolved: bool
    # Staff recording it for the company may name who there told them; else it is themselves.
    by: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class FollowUpDueIn(BaseModel):
    """When the company should have resolved the memo by; without an offset, in its zone."""

    model_config = ConfigDict(extra="forbid")

    due: datetime
