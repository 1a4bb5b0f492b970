"""Company YAML under arbitrary input: only a refusal with a line and a reason, and a lossless export.

An admin pastes a company's YAML into a page or `relay companies sync` reads it from disk, so any
text at all reaches the loader. Whatever it is, the answer must be `InvalidCompanyFiles` (a 422
listing what is wrong, where), never another exception (a 500 and a traceback). And every valid
company written out as YAML must load back as the same document, or an export followed by a
sync would change a company nobody edited.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.companies.config import CompanyConfig
from service.companies.validation import CompanyConfigError, validate_document
from service.companies.versions import document_yaml
from service.companies.yaml_io import InvalidCompanyFiles, dump_company, load_company
from tests.factories import company_document

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of YAML that stress the scanner, the composer and the constructors when combined.
_FRAGMENTS = [
    "slug: sakura-dental\n",
    "name: さくら歯科\n",
    "a: &a [x, x, x]\n",
    "b: [*a, *a, *a]\n",
    "c: *missing\n",
    "\t",
    "\x00",
    "\ufeff",
    "－：　",
    "key: 1\nkey: 2\n",
    "n: 99999999999999999999999999999999999999999999\n",
    "f: 1e99999\n",
    "t: !!timestamp 2001-99-99\n",
    "i: !!int 0x\n",
    "b: !!bool maybe\n",
    "p: !!python/object:os.system ls\n",
    "x: !!binary |\n  %%%\n",
    "? [a, b]\n: c\n",
    "[",
    "{",
    "- ",
    "  ",
    "|\n",
    ">-\n",
    "'",
    '"',
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "&x ",
    "!tag ",
    "#",
    "\n",
]


@QUICK
@given(text=st.text(max_size=300))
def test_any_text_is_loaded_or_refused_with_reasons(text: str) -> None:
    _loads_or_refuses(text)


@QUICK
@given(data=st.binary(max_size=300))
def test_any_bytes_decoded_are_loaded_or_refused_with_reasons(data: bytes) -> None:
    _loads_or_refuses(data.decode("utf-8", errors="replace"))
    _loads_or_refuses(data.decode("latin-1"))


@QUICK
@given(parts=st.lists(st.sampled_from(_FRAGMENTS), max_size=25))
def test_any_mix_of_tricky_yaml_is_loaded_or_refused_with_reasons(parts: list[str]) -> None:
    _loads_or_refuses("".join(parts))


@settings(max_examples=8, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=3000),
    opener=st.sampled_from(["[", "{a: ", "- ", "a:\n  "]),
)
def test_nesting_of_any_depth_is_loaded_or_refused_with_reasons(depth: int, opener: str) -> None:
    _loads_or_refuses("slug: x\nname: " + opener * depth)


def test_a_billion_laughs_is_refused_without_being_expanded() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        alias = f"*{chr(96 + level)}"
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [{', '.join([alias] * 9)}]")
    for key in ("name", "script", "contacts", "templates", "hours", "routing"):
        text = "\n".join([*lines, f"{key}: *j"])

        errors = _loads_or_refuses(text)

        assert errors, key


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("slug: x\nname: \x00", 2, "not valid YAML: character U+0000 is not allowed"),
        ("slug: \ud800", 1, "not valid YAML: character U+D800 is not allowed"),
        (
            "slug: x\nname: !!timestamp 2001-99-99",
            2,
            "not valid YAML: cannot read the value '2001-99-99' as tag:yaml.org,2002:timestamp",
        ),
        (
            "name: !!int 0x",
            1,
            "not valid YAML: cannot read the value '0x' as tag:yaml.org,2002:int",
        ),
        ("name: !!int ''", 1, "not valid YAML: cannot read the value '' as tag:yaml.org,2002:int"),
        (
            "name: !!bool maybe",
            1,
            "not valid YAML: cannot read the value 'maybe' as tag:yaml.org,2002:bool",
        ),
        (
            "name: !!timestamp 99999-01-01",
            1,
            "not valid YAML: cannot read the value '99999-01-01' as tag:yaml.org,2002:timestamp",
        ),
        ("name: " + "[" * 3000, 1, "not valid YAML: lists or mappings are nested too deeply"),
    ],
)
def test_values_python_cannot_read_are_refused_on_their_line(
    text: str, line: int, reason: str
) -> None:
    # These used to escape as ValueError, IndexError, KeyError, ReaderError or RecursionError.
    errors = _loads_or_refuses(text)

    assert [(error.line, error.reason) for error in errors] == [(line, reason)]


# Text a person might write in a company's words: Japanese, English, full-width forms, emoji,
# YAML's own punctuation and line breaks. Surrogates cannot be stored at all.
_WORDS = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cs"]),
        st.sampled_from(list("あア漢字ｱＡ１　：－・「」 #&*!|>'\"%@`{}[],?-:\n\t")),
    ),
    min_size=1,
    max_size=40,
)


@QUICK
@given(
    name=_WORDS,
    greeting=_WORDS,
    say=_WORDS,
    ask=_WORDS,
    label=_WORDS,
    contact=_WORDS,
)
def test_a_valid_company_written_as_yaml_loads_back_the_same(
    name: str, greeting: str, say: str, ask: str, label: str, contact: str
) -> None:
    document: dict[str, Any] = company_document(
        name=name,
        greeting=greeting,
        script=[{"say": say}, {"ask": ask, "field": "patient_no"}],
        fields=[{"key": "patient_no", "label": label, "required": False}],
    )
    document["contacts"][1]["name"] = contact
    try:
        config = validate_document(document)
    except CompanyConfigError:
        assume(False)
        raise

    text = dump_company(config)
    loaded = load_company(text).config

    assert loaded == config
    assert loaded.document() == config.document()
    # A stored document and its export agree too, so a diff of versions shows no change.
    assert document_yaml(config.document()) == text
    assert CompanyConfig.model_validate(loaded.document()) == config


def _loads_or_refuses(text: str) -> list[Any]:
    """The refusals of `text` (none if it loads); any other exception fails the test."""
    try:
        load_company(text, file="clients/x.yaml")
    except InvalidCompanyFiles as error:
        assert error.errors
        for problem in error.errors:
            assert problem.file == "clients/x.yaml"
            assert problem.line >= 1
            assert problem.reason
        return list(error.errors)
    return []
