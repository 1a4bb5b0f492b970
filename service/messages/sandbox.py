"""Jinja2's sandbox for memo formats, bounded in time and in the size of what it builds.

Admins write the per-company overrides, and memo text comes from callers, so a template is
never trusted: it renders in `ImmutableSandboxedEnvironment` (no private attributes, no
mutation of lists or dicts), every call, attribute look-up, filter and operator checks a
deadline, `range` is short, operators and filters that could build a huge value (a long string,
an integer of thousands of digits) are refused before they run, and the output is streamed and
cut off past a size.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Generator, Mapping, Sized
from typing import Any, cast

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from service.messages.guards import (
    DEADLINE,
    BoundedNamespace,
    BoundedRange,
    RenderTimeout,
    check_arithmetic,
    check_format,
    check_int_method,
    check_int_size,
    check_repeat,
    check_size,
    check_str_method,
    guarded_filter,
    tick,
)
from service.paths import templates_dir

RENDER_SECONDS = 0.2


class TemplateError(ValueError):
    """A memo template that does not compile or render within bounds; `line` is in the template."""

    def __init__(self, *, reason: str, line: int | None = None, undefined: bool = False) -> None:
        self.reason, self.line, self.undefined = reason, line, undefined
        super().__init__(f"line {line} of the template: {reason}" if line else reason)


class MessageSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every memo format renders in, default or override."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "-"})

    def __init__(self, *, html: bool, strict: bool) -> None:
        super().__init__(
            loader=FileSystemLoader(templates_dir() / "messages"),
            autoescape=html,
            undefined=StrictUndefined if strict else Undefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_blank_none,
            # Jinja2's constant folding re-folds every level of a nested expression again, so
            # a few hundred filters in a row took seconds to compile; memo formats gain nothing.
            optimized=False,
        )
        self.globals.pop("lipsum", None)
        self.globals["range"] = BoundedRange
        self.globals["namespace"] = BoundedNamespace
        self.filters = {name: guarded_filter(name, func) for name, func in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "*":
            check_repeat(left, right)
            check_repeat(right, left)
        elif operator == "+" and isinstance(left, Sized) and isinstance(right, Sized):
            check_size(len(left) + len(right))
        elif operator == "%":
            check_format(left)
        check_arithmetic(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        check_int_size(result)
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        for value in (*args, *kwargs.values()):
            if isinstance(value, str):
                check_size(len(value))
        check_str_method(__obj, args, kwargs)
        check_int_method(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            check_format(value.__self__)
        return wrapped

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)


def _blank_none(value: Any) -> Any:
    # `{{ caller.company }}` with no company prints nothing rather than "None".
    return "" if value is None else value


@functools.cache
def sandbox(*, html: bool, strict: bool = False) -> MessageSandbox:
    """The shared sandbox: autoescaped for HTML; `strict` refuses undefined names."""
    return MessageSandbox(html=html, strict=strict)


@functools.lru_cache(maxsize=512)
def compile_source(*, source: str, html: bool, strict: bool = False) -> Template:
    """An override compiled in the sandbox; TemplateError with the line if it does not compile."""
    try:
        return sandbox(html=html, strict=strict).from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(reason=error.message or "syntax error", line=error.lineno) from None
    # Jinja2 parses expressions recursively and Python compiles the result: deep nesting or a
    # huge number literal fails there, outside Jinja2's own syntax errors.
    except RecursionError:
        raise TemplateError(reason="blocks or expressions are nested too deeply") from None
    except SyntaxError as error:
        reason = f"blocks or expressions are nested too deeply ({error.msg})"
        raise TemplateError(reason=reason) from None
    except ValueError as error:
        raise TemplateError(reason=f"the template cannot be compiled: {error}") from None


def default_template(*, name: str, html: bool) -> Template:
    """A bundled default format, e.g. `ja/sms.txt`."""
    return sandbox(html=html).get_template(name)


def render_bounded(
    *,
    template: Template,
    context: Mapping[str, Any],
    max_chars: int,
    seconds: float = RENDER_SECONDS,
) -> str:
    """`template` rendered, or TemplateError if it fails, runs past `seconds` or `max_chars`."""
    deadline = time.monotonic() + seconds
    token = DEADLINE.set(deadline)
    stream = cast(Generator[str, None, None], template.generate(dict(context)))
    parts: list[str] = []
    size = 0
    try:
        for chunk in stream:
            size += len(chunk)
            if size > max_chars:
                reason = f"the output is longer than {max_chars:,} characters"
                raise TemplateError(reason=reason, line=_current_line(stream, template))
            if time.monotonic() > deadline:
                raise RenderTimeout
            parts.append(chunk)
    except TemplateError:
        raise
    except RenderTimeout as error:
        line = _error_line(error, template) or _current_line(stream, template)
        reason = f"rendering takes longer than {seconds * 1000:.0f} ms (a loop that runs too long?)"
        raise TemplateError(reason=reason, line=line) from None
    except Exception as error:
        raise TemplateError(
            reason=_reason(error),
            line=_error_line(error, template),
            undefined=isinstance(error, UndefinedError),
        ) from None
    finally:
        stream.close()
        DEADLINE.reset(token)
    return "".join(parts)


def _reason(error: Exception) -> str:
    if isinstance(error, UndefinedError | SecurityError):
        return str(error.message)
    if isinstance(error, RecursionError):
        return "a macro calls itself too deeply"
    return f"{type(error).__name__}: {error}"


def _error_line(error: BaseException, template: Template) -> int | None:
    filename = template.filename or "<template>"
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    return lines[-1] if lines else None


def _current_line(stream: Any, template: Template) -> int | None:
    # The innermost generator the stream delegates to is where the template is now.
    inner = stream
    while getattr(inner, "gi_yieldfrom", None) is not None:
        inner = inner.gi_yieldfrom
    frame = getattr(inner, "gi_frame", None)
    if frame is None or inner is stream:
        return None
    return template.get_corresponding_lineno(frame.f_lineno)
