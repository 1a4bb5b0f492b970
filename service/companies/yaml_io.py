"""Company documents as YAML files: read with line numbers for every refusal, written back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from service.companies.config import CompanyConfig
from service.companies.validation import (
    CompanyConfigError,
    ConfigIssue,
    Loc,
    field_path,
    validate_document,
)


class CompanyFileError(Exception):
    """One reason a company file is refused, with where it is."""

    def __init__(
        self, *, file: str, line: int, field: str, reason: str, issue: ConfigIssue | None = None
    ) -> None:
        self.file, self.line, self.field, self.reason = file, line, field, reason
        # A refusal of the document itself, which a page can say in its reader's language.
        self.issue = issue
        where = f"{field}: " if field else ""
        super().__init__(f"{file}:{line}: {where}{reason}")

    def text(self, locale: str) -> str:
        """The reason in `locale` where the catalogues have it, else as `reason` says it."""
        return self.issue.text(locale) if self.issue is not None else self.reason


class InvalidCompanyFiles(ValueError):
    """Company files refused as a whole; `errors` lists every reason."""

    def __init__(self, errors: list[CompanyFileError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class LoadedCompany:
    """A valid company file: its configuration and the YAML it came from, for line numbers."""

    file: str
    config: CompanyConfig
    root: yaml.Node

    def error(self, loc: Loc, reason: str) -> CompanyFileError:
        """A refusal of the value at `loc`, placed on its line."""
        return CompanyFileError(
            file=self.file, line=line_of(self.root, loc), field=field_path(loc), reason=reason
        )


def load_company(text: str, *, file: str = "<text>") -> LoadedCompany:
    """Parse and validate one company document; InvalidCompanyFiles says where and why if not."""
    root, data = _parse(text, file=file)
    try:
        config = validate_document(data)
    except CompanyConfigError as error:
        problems = [
            CompanyFileError(
                file=file,
                line=line_of(root, issue.loc, template_line=issue.template_line),
                field=issue.field if issue.loc else "",
                reason=issue.reason,
                issue=issue,
            )
            for issue in error.issues
        ]
        raise InvalidCompanyFiles(problems) from None
    return LoadedCompany(file=file, config=config, root=root)


def load_company_file(path: Path, *, file: str | None = None) -> LoadedCompany:
    """Read and validate one company file; `file` is the name to report it by."""
    name = file or str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 text (byte {error.start})"
        raise InvalidCompanyFiles([_at(name, 1, reason)]) from None
    except OSError as error:
        raise InvalidCompanyFiles([_at(name, 1, f"cannot read: {error.strerror}")]) from None
    return load_company(text, file=name)


def _at(file: str, line: int, reason: str) -> CompanyFileError:
    return CompanyFileError(file=file, line=line, field="", reason=reason)


class _Loader(yaml.SafeLoader):
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML's constructors of tagged values (!!timestamp 2001-99-99, !!int 0x, !!bool x)
        # raise plain Python errors; an admin hears which value could not be read instead.
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, LookupError, AttributeError, TypeError, OverflowError):
            value = f"{node.value!r} " if isinstance(node, yaml.ScalarNode) else ""
            problem = f"cannot read the value {value}as {node.tag}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _parse(text: str, *, file: str) -> tuple[yaml.Node, Any]:
    try:
        # Reading the text already refuses characters YAML does not allow (NUL, a lone surrogate).
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        reason = f"not valid YAML: character U+{error.character:04X} is not allowed"
        raise InvalidCompanyFiles([_at(file, line, reason)]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise InvalidCompanyFiles([_at(file, 1, "the file is empty")])
        duplicates = _duplicate_keys(root, file=file)
        if duplicates:
            raise InvalidCompanyFiles(duplicates)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise InvalidCompanyFiles([_at(file, line, f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as error:
        raise InvalidCompanyFiles([_at(file, 1, f"not valid YAML: {error}")]) from None
    except RecursionError:
        # PyYAML composes nested lists and mappings recursively; no company file nests deeply.
        reason = "not valid YAML: lists or mappings are nested too deeply"
        raise InvalidCompanyFiles([_at(file, 1, reason)]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        reason = (
            "a company file is a mapping of keys (slug:, name:, greeting:, …), not a list or text"
        )
        raise InvalidCompanyFiles([_at(file, root.start_mark.line + 1, reason)])
    return root, data


def _duplicate_keys(root: yaml.Node, *, file: str) -> list[CompanyFileError]:
    # PyYAML keeps the last of two equal keys silently; an admin deserves to hear about it.
    errors: list[CompanyFileError] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in first_line:
                        first = first_line[key.value]
                        reason = f"key {key.value!r} appears twice (first on line {first})"
                        errors.append(_at(file, line, reason))
                    first_line.setdefault(key.value, line)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(errors, key=lambda error: error.line)


def line_of(root: yaml.Node, loc: Loc, *, template_line: int | None = None) -> int:
    """The 1-based line of the value at `loc`, or of the nearest enclosing one that exists."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    else:
        if template_line is not None and isinstance(node, yaml.ScalarNode):
            # A block scalar (| or >) starts on the line after its indicator.
            first = node.start_mark.line + (1 if node.style in ("|", ">") else 0)
            return first + template_line
    return node.start_mark.line + 1


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


class _Flow(dict[str, Any]):
    """A mapping written on one line, like the items of CONTRACT §4."""


class _FlowList(list[Any]):
    """A list written on one line."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them.
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        # Double quotes where quoting is needed, as CONTRACT §4 writes "+815012345678".
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)

_ONE_LINE_ITEMS = ("fields", "contacts", "routing", "escalation")


def dump_company(config: CompanyConfig) -> str:
    """The YAML of a company, keys in the order of CONTRACT §4; loading it gives `config` back."""
    data = config.document()
    data["phone_numbers"] = _FlowList(data["phone_numbers"])
    for key in _ONE_LINE_ITEMS:
        if key in data:
            data[key] = [_Flow(item) for item in data[key]]
    if "hours" in data:
        data["hours"] = _Flow(data["hours"])
    text: str = yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096, indent=2
    )
    return text
