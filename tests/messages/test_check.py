"""A company's template override is refused when saved unless it compiles and renders in bounds."""

from __future__ import annotations

import pytest

from service.companies.validation import CompanyConfigError, ConfigIssue, validate_document
from service.messages.check import check_override
from service.messages.sandbox import TemplateError
from tests.factories import company_document

EVERY_NAME = """{{ company }} {{ contact_name }} {{ received_at }} {{ received_at_short }}
{{ caller.name }} {{ caller.phone }} {{ caller.phone_display }} {{ caller.company }}
{{ category }} {{ category_label }} {{ urgency }} {{ urgency_label }} {{ urgent }}
{{ subject }} {{ body }} {% for field in fields %}{{ field.label }}{{ field.value }}{% endfor %}
{{ ack_code }} {{ ack_url }} {{ operator }} {{ memo.subject }} {{ memo.caller.name }}"""


def refused(part: str, source: str) -> ConfigIssue:
    with pytest.raises(CompanyConfigError) as caught:
        validate_document(company_document(templates={part: source}))
    [issue] = caught.value.issues
    assert issue.field == f"templates.{part}"
    return issue


@pytest.mark.parametrize("part", ["email_text", "email_html", "sms"])
def test_a_template_using_every_name_is_accepted(part: str) -> None:
    config = validate_document(company_document(templates={part: EVERY_NAME}))

    assert getattr(config.templates, part) == EVERY_NAME


def test_a_template_that_does_not_compile_is_refused_with_its_line() -> None:
    issue = refused("sms", "{{ subject }}\n{% if urgent %}至急")

    assert issue.template_line == 2
    assert issue.reason.startswith("line 2 of the template: Unexpected end of template.")


def test_a_misspelt_name_is_refused_with_its_line_and_the_names_to_use() -> None:
    issue = refused("email_text", "{{ contact_name }}様\n\n{{ subjcet }}")

    assert issue.template_line == 3
    assert issue.reason.startswith("line 3 of the template: 'subjcet' is undefined")
    assert "the names you can use: company, contact_name" in issue.reason


def test_a_misspelt_name_in_a_branch_the_full_sample_skips_is_still_refused() -> None:
    issue = refused(
        "sms", "{% if caller.name %}{{ caller.name }}{% else %}{{ caler.phone }}{% endif %}"
    )

    assert "'caler' is undefined" in issue.reason


def test_a_misspelt_attribute_is_refused() -> None:
    issue = refused("email_html", "<p>{{ caller.nmae }}</p>")

    assert issue.reason.startswith("line 1 of the template: 'dict object' has no attribute 'nmae'")


def test_a_template_that_fails_when_rendered_is_refused() -> None:
    issue = refused("email_text", "{{ subject }}\n{{ 1 // 0 }}")

    assert (
        issue.reason
        == "line 2 of the template: ZeroDivisionError: integer division or modulo by zero"
    )


def test_a_loop_that_runs_too_long_is_refused() -> None:
    source = (
        "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )

    issue = refused("sms", source)

    assert issue.reason.startswith("line 1 of the template: rendering takes longer than 200 ms")


def test_a_template_that_writes_too_much_is_refused() -> None:
    issue = refused("email_text", "{{ subject }}\n{{ 'x' * 300000 }}")

    assert issue.reason == "line 2 of the template: the output is longer than 262,144 characters"


def test_reaching_into_python_is_refused() -> None:
    issue = refused("email_text", "{{ ''.__class__.__mro__ }}")

    assert "access to attribute '__class__' of 'str' object is unsafe" in issue.reason


def test_a_subject_that_renders_a_line_break_is_refused() -> None:
    issue = refused("email_subject", '{{ subject }}{{ "\\n" }}Bcc: x@example.com')

    assert issue.reason == (
        "the template cannot be used: "
        "an email subject is one line, but this one has a line break (U+000A)"
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        # Every character str.splitlines() splits at, as the mail library does for headers.
        ('{{ subject }}{{ "\\u2028" }}x', "has a line break (U+2028)"),
        ("{{ subject }}\u2029{{ company }}", "has a line break (U+2029)"),
        ('{{ subject }}{{ "\\x1c" }}x', "has a line break (U+001C)"),
        ('{{ subject }}{{ "\\x85" }}x', "has a line break (U+0085)"),
        ('{{ subject }}{{ "\\x00" }}x', "has a control character (U+0000)"),
    ],
)
def test_a_subject_with_any_break_the_mail_library_refuses_is_refused(
    source: str, reason: str
) -> None:
    issue = refused("email_subject", source)

    assert issue.reason == (
        f"the template cannot be used: an email subject is one line, but this one {reason}"
    )


def test_chained_powers_are_refused_with_their_line() -> None:
    issue = refused("email_text", "{{ subject }}\n{{ ((10 ** 500) ** 1000) ** 3 }}")

    assert issue.template_line == 2
    assert issue.reason == (
        "line 2 of the template: a number this large is not allowed "
        "(at most 4,096 bits, about 1,200 digits)"
    )


def test_the_voice_summary_cannot_be_overridden() -> None:
    with pytest.raises(TemplateError, match="'voice' is not a template that can be overridden"):
        check_override(part="voice", source="{{ subject }}")
