"""What a memo template may build and how long it may run, checked before each step.

Every call, attribute look-up, filter, operator and loop step checks the render's deadline;
operators, filters and string methods that could build a huge value from small arguments
(`'x' * 10**9`, `center(10**9)`, `replace('', body)`, `'%99999s'`) are refused before they run.
Numbers are bounded too: one multiplication of huge integers (`((10**500)**1000)**9`) runs for
seconds and cannot be interrupted, so arithmetic whose result would pass MAX_INT_BITS is refused
before it is computed.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Callable, Iterator, Sized
from contextvars import ContextVar
from typing import Any

from jinja2.runtime import Namespace
from jinja2.sandbox import SecurityError
from jinja2.utils import _PassArg

MAX_RANGE = 1000
# Any value a template builds (a string, a list) stays under this many items.
MAX_VALUE = 512 * 1024
MAX_JSON_INDENT = 16
# An integer a template computes stays under this many bits (about 1,200 decimal digits).
MAX_INT_BITS = 4096

DEADLINE: ContextVar[float] = ContextVar("template_deadline", default=float("inf"))
# A printf or format() width or precision of five digits or more, or one taken from the arguments.
_HUGE_SPEC = re.compile(r"[%:.][^\s\d]{0,4}(?:\d{5,}|\*)|:[^\s{}]{0,4}\{")


class RenderTimeout(Exception):
    """The render's deadline has passed."""


def tick() -> None:
    """Stop the render once its deadline has passed."""
    if time.monotonic() > DEADLINE.get():
        raise RenderTimeout


def check_size(size: int) -> None:
    """Refuse building a value of more than MAX_VALUE characters or items."""
    if size > MAX_VALUE:
        raise SecurityError(
            f"this would build a value of {size:,} characters (at most {MAX_VALUE:,})"
        )


def check_format(spec: object) -> None:
    """Refuse a format string with a huge width or precision, or one taken from arguments."""
    if isinstance(spec, str) and _HUGE_SPEC.search(spec):
        raise SecurityError("a width or precision this large (or taken from `*`) is not allowed")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def check_int_size(value: object) -> None:
    """Refuse an integer of more than MAX_INT_BITS bits."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(_too_large_number())


def check_arithmetic(operator: str, left: object, right: object) -> None:
    """Refuse `left ** right` or `left * right` of integers whose result would be too large."""
    a, b = _int(left), _int(right)
    if a is None or b is None:
        return
    # The fewest bits the result can have: refusing on it never refuses a result in bounds.
    if operator == "**" and b > 0 and abs(a) > 1:
        least = (abs(a).bit_length() - 1) * b + 1
    elif operator == "*" and a and b:
        least = a.bit_length() + b.bit_length() - 1
    else:
        return
    if least > MAX_INT_BITS:
        raise SecurityError(_too_large_number())


def _too_large_number() -> str:
    return f"a number this large is not allowed (at most {MAX_INT_BITS:,} bits, about 1,200 digits)"


def check_repeat(sequence: object, times: object) -> None:
    """Refuse repeating a string or list into a value too large (`'x' * n`)."""
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        check_size(len(sequence) * times)


def _replaced_size(text: object, old: object, new: object) -> int:
    if not isinstance(text, str):
        return 0
    hits = len(text) + 1 if not old else text.count(str(old))
    return len(text) + hits * len(str(new))


def _joined_size(separator: object, items: object) -> int:
    count = len(items) if isinstance(items, Sized) else MAX_RANGE
    return len(str(separator)) * count


class BoundedRange:
    """`range`, short, and checking the deadline at every step of a loop."""

    def __init__(self, *args: int) -> None:
        self._range = range(*args)
        if len(self._range) > MAX_RANGE:
            raise SecurityError(f"range() is limited to {MAX_RANGE} items")

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: int) -> int:
        return self._range[index]

    def __iter__(self) -> Iterator[int]:
        for item in self._range:
            tick()
            yield item


class BoundedNamespace(Namespace):
    """`namespace()`, whose attributes cannot grow without bound across a loop."""

    def __setitem__(self, name: str, value: Any) -> None:
        tick()
        if isinstance(value, Sized):
            check_size(len(value))
        super().__setitem__(name, value)


def check_str_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a string method call (`center`, `replace`, …) whose result would be too large."""
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return
    first = args[0] if args else next(iter(kwargs.values()), 0)
    if name in ("center", "ljust", "rjust", "zfill") and isinstance(first, int):
        check_size(first)
    elif name == "expandtabs" and isinstance(first, int):
        check_size(len(owner) + owner.count("\t") * first)
    elif name == "replace" and len(args) >= 2:
        check_size(_replaced_size(owner, args[0], args[1]))
    elif name == "join":
        check_size(_joined_size(owner, first))


def check_int_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse `n.to_bytes(length)` of a huge length: it would allocate that many bytes."""
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            check_size(length)


# Filters that could build a huge value from small arguments: checked before they run.
_FILTER_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "center": lambda a: check_repeat(" ", a.get("width", 0)),
    "indent": lambda a: check_size(
        len(str(a.get("s", ""))) + (str(a.get("s", "")).count("\n") + 1) * _width(a.get("width", 4))
    ),
    "wordwrap": lambda a: check_size(
        len(str(a.get("s", ""))) * (1 + len(str(a.get("wrapstring") or "\n")))
    ),
    "format": lambda a: check_format(a.get("value")),
    "replace": lambda a: check_size(_replaced_size(a.get("s"), a.get("old"), a.get("new"))),
    "join": lambda a: check_size(_joined_size(a.get("d", ""), a.get("value"))),
    "tojson": lambda a: _check_indent(a.get("indent")),
    # Both build that many lists (`batch` fills the last one up to its length).
    "batch": lambda a: check_size(_width(a.get("linecount", 0))),
    "slice": lambda a: check_size(_width(a.get("slices", 0))),
}


def _width(width: object) -> int:
    return width if isinstance(width, int) else len(str(width))


def _check_indent(indent: object) -> None:
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise SecurityError(f"tojson indent is limited to {MAX_JSON_INDENT}")


def guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` as a filter that checks the deadline, and its arguments when it could build a lot."""
    check = _FILTER_CHECKS.get(name)
    signature = inspect.signature(func) if check is not None else None
    # Jinja's sync-or-async filters (`slice`, …) take an evaluation context their signature
    # does not show: it is left out before the arguments are matched to their names.
    hidden = int(
        _PassArg.from_obj(func) is not None and _PassArg.from_obj(inspect.unwrap(func)) is None
    )

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None and signature is not None:
            check(signature.bind(*args[hidden:], **kwargs).arguments)
        return func(*args, **kwargs)

    return guarded
