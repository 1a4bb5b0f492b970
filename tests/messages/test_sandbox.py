"""The bounded sandbox that every memo format renders in."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from service.messages.check import check_override
from service.messages.sandbox import TemplateError, compile_source, render_bounded


def render(
    source: str,
    *,
    html: bool = False,
    strict: bool = False,
    max_chars: int = 64 * 1024,
    **context: Any,
) -> str:
    template = compile_source(source=source, html=html, strict=strict)
    return render_bounded(template=template, context=context, max_chars=max_chars)


def refusal(source: str, **context: Any) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, strict=True, **context)
    return caught.value


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ caller.__init__.__globals__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ cycler.__init__.__globals__.os }}",
        # Attribute access inside a format string, which Python resolves, not Jinja2.
        "{{ '{0.__class__}'.format('') }}",
        "{{ '{0.__class__.__mro__[1].__subclasses__}'.format('') }}",
        "{{ '{0.__init__.__globals__}'.format(cycler) }}",
        "{{ '{0.real.__class__}'.format(1) }}",
        "{{ '{x.__class__}'.format_map({'x': ''}) }}",
        "{% set f = '{0.__class__}'.format %}{{ f('') }}",
        "{{ '%s'|format(caller.__class__) }}",
        # The globals every sandbox has, and the template's own reference.
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ range.__class__ }}",
        "{{ range.__init__.__globals__ }}",
        "{{ range(3).__class__ }}",
        "{{ cycler('a').__dict__ }}",
        "{{ joiner().__dict__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
        "{{ self.__class__ }}",
        "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
        # |attr and subscripts with names spelt so that no underscore is written.
        "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        "{{ ''|attr('\\u005f\\u005fclass\\u005f\\u005f') }}",
        "{{ ''|attr('%c%cclass%c%c'|format(95, 95, 95, 95)) }}",
        "{{ ''|attr(['_', '_', 'class', '_', '_']|join) }}",
        "{{ ''|attr('__cla' ~ 'ss__') }}",
        "{{ ''['__class__'] }}",
        "{{ caller.__getattribute__('__class__') }}",
        "{{ ''.join.__self__ }}",
        "{{ [caller]|selectattr('__class__')|list }}",
        "{{ [caller]|sum(attribute='__class__') }}",
        # {% set %}, {% with %} and loops keep the sandbox's checks on what they bind.
        "{% set c = ''.__class__ %}{{ c }}",
        "{% set x = cycler %}{{ x.__init__.__globals__ }}",
        "{% set g = self %}{{ g.__dict__ }}",
        "{% with a = ''.__class__ %}{{ a }}{% endwith %}",
        "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    ],
)
def test_unsafe_attributes_are_refused(source: str) -> None:
    error = refusal(source, caller={"name": "山田"})

    assert error.line == 1
    assert "unsafe" in error.reason


# What a rendered escape would show: a class, module, function's globals or the os module.
_PYTHON_INSIDES = re.compile(r"<class |<module |__globals__|__builtins__|<built-in function|posix")


@pytest.mark.parametrize(
    "source",
    [
        # Globals other sandboxes have, and Flask's, are not names here at all.
        "{{ lipsum.__globals__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ request.application.__globals__ }}",
        "{{ config.items() }}",
        "{{ config.__class__.__init__.__globals__ }}",
        "{{ url_for.__globals__ }}",
        "{{ get_flashed_messages.__globals__ }}",
        "{{ __builtins__ }}",
        "{{ debug() }}",
        # What the sandbox lets through shows nothing of Python's insides.
        "{{ ''.format_map }}",
        "{{ '{0.__class__}'.format_map }}",
        "{{ '{0[__class__]}'.format({'__class__': 1}) }}",
        "{% set a = ''|attr('format') %}{{ a('{0.__class__}', '') }}",
        "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns.__class__ }}",
        "{% set ns = namespace(a=1) %}{{ ns.__dict__ }}",
        "{{ [caller]|map(attribute='__class__')|list }}",
        "{{ [caller]|groupby('__class__')|list }}",
        "{{ self }}",
        "{{ caller|attr('items') }}",
    ],
)
@pytest.mark.parametrize("part", ["sms", "email_html"])
def test_known_escapes_are_refused_when_saved_or_show_nothing_of_python(
    source: str, part: str
) -> None:
    try:
        check_override(part=part, source=source)
    except TemplateError as error:
        assert error.reason
        return
    text = render(source, html=part == "email_html", caller={"name": "山田"})

    assert not _PYTHON_INSIDES.search(text), text


def test_lists_and_dicts_cannot_be_changed() -> None:
    error = refusal("{{ fields.append(1) }}", fields=[])

    assert "unsafe" in error.reason


def test_a_loop_that_runs_too_long_is_stopped_at_its_line() -> None:
    source = (
        "件名\n"
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()

    error = refusal(source)

    assert time.monotonic() - started < 2
    assert error.line == 2
    assert "longer than 200 ms" in error.reason


def test_range_is_short() -> None:
    error = refusal("\n\n{% for i in range(100000) %}{% endfor %}")

    assert (error.line, error.reason) == (3, "range() is limited to 1000 items")


def test_output_past_the_limit_is_cut_off_with_its_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render(
            "一行目\n{% for i in range(1000) %}{{ body }}{% endfor %}",
            body="あ" * 100,
            max_chars=5000,
        )

    assert caught.value.line == 2
    assert caught.value.reason == "the output is longer than 5,000 characters"


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ 'x'|center(100000000) }}",
        "{{ 'x'.rjust(100000000) }}",
        "{{ body|replace('あ', body) }}",
        "{{ body.replace('', body) }}",
        "{% set ns = namespace(s='ab') %}"
        "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% macro grow(s, n) %}{{ grow(s ~ s, n - 1) if n else s }}{% endmacro %}"
        "{{ grow('a', 64) }}",
    ],
)
def test_values_too_large_to_build_are_refused_before_they_are_built(source: str) -> None:
    error = refusal(source, body="あ" * 10_000)

    assert "this would build a value of" in error.reason


@pytest.mark.parametrize(
    "source",
    ["{{ '%100000s' % 1 }}", "{{ '{:>100000}'.format(1) }}", "{{ '%*d'|format(99999, 1) }}"],
)
def test_huge_format_widths_are_refused(source: str) -> None:
    assert "width or precision" in refusal(source).reason


def test_a_macro_that_calls_itself_forever_is_refused() -> None:
    error = refusal("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")

    assert error.reason == "a macro calls itself too deeply"


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_source(source="一行目\n{{ subject }\n", html=False)

    assert str(caught.value) == "line 2 of the template: unexpected '}'"


def test_undefined_names_print_nothing_when_sending_but_are_refused_when_strict() -> None:
    assert (
        render("[{{ nothing }}][{{ caller.nmae }}][{{ caller.company }}]", caller={"company": None})
        == "[][][]"
    )

    error = refusal("一行目\n{{ caller.nmae }}", caller={"name": "山田"})

    assert error.line == 2
    assert error.undefined
    assert "has no attribute 'nmae'" in error.reason


def test_html_is_autoescaped_only_in_html_templates() -> None:
    body = "<script>alert('x')</script> & 様"

    assert render("{{ body }}", html=True, body=body) == (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 様"
    )
    assert render("{{ body }}", html=False, body=body) == body


def test_ordinary_templates_render() -> None:
    source = (
        "{% for label, value in fields %}{{ label }}={{ value }};{% endfor %}"
        "{{ range(3)|join(',') }} {{ '%05d'|format(42) }} {{ '{:>4}'.format(7) }}"
    )

    assert render(source, fields=[("診察券番号", "12345")]) == "診察券番号=12345;0,1,2 00042    7"


def test_chained_powers_are_refused_before_they_are_computed() -> None:
    # Each power alone passes an exponent check; together they make a number of millions of
    # digits, and one multiplication of such numbers cannot be interrupted by the deadline.
    error = refusal("{{ ((10 ** 500) ** 1000) ** n }}", n=3)

    assert error.line == 1
    assert (
        error.reason
        == "a number this large is not allowed (at most 4,096 bits, about 1,200 digits)"
    )


@pytest.mark.parametrize(
    "source",
    [
        "{{ 2 ** 5000 }}",
        "{{ (10 ** 1000) * (10 ** 1000) }}",
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "{% set ns = namespace(n=2 ** 4095) %}{% for i in range(3) %}{% set ns.n = ns.n + ns.n %}"
        "{% endfor %}",
        "{{ -(2 ** 4095) - (2 ** 4095) }}",
    ],
)
def test_integers_too_large_are_refused(source: str) -> None:
    assert refusal(source).reason.startswith("a number this large is not allowed")


@pytest.mark.parametrize(
    "source",
    [
        "{{ (1).to_bytes(100000000, 'big') }}",
        "{% for part in [1]|slice(100000000) %}{% endfor %}",
        "{{ [1]|batch(100000000, 0)|list }}",
    ],
)
def test_filters_and_methods_that_allocate_by_a_number_are_bounded(source: str) -> None:
    assert "this would build a value of" in refusal(source).reason


def test_ordinary_arithmetic_still_works() -> None:
    assert render("{{ 2 ** 10 }} {{ 7 * 6 }} {{ 10 - 3 }} {{ 2 ** -1 }} {{ (10 ** 100) % 7 }}") == (
        "1024 42 7 0.5 4"
    )
    assert render("{{ (10 ** 1000)|string|length }}") == "1001"
    assert render("{{ [1, 2, 3]|slice(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}") == (
        "[[1, 2], [3]] [[1, 2], [3, 0]]"
    )
