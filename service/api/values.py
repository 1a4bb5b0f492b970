"""Value types of request models, refused with a clear 422 instead of failing further in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

from service.errors import Invalid
from service.i18n import N_


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-14:00 is a valid time, but past the last one Python has in UTC.
        raise Invalid(
            N_("This time is past the end of the calendar in UTC."), code="out_of_range"
        ) from None


# A moment with its UTC offset (2025-04-01T14:05:00+09:00), answered in UTC; a time without
# one, or one past the end of the calendar in UTC, is a 422.
ZonedTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
