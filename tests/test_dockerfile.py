"""The Dockerfile, checked without a Docker engine: it must call real `relay` commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from service.cli import app

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def instruction(name: str) -> list[str]:
    return [
        arguments
        for keyword, arguments in parse_dockerfile(DOCKERFILE.read_text())
        if keyword == name
    ]


def command_words(arguments: str) -> list[str]:
    """The argv of a CMD/ENTRYPOINT/HEALTHCHECK CMD, exec form or shell form."""
    arguments = re.sub(r"^(--\S+\s+)*", "", arguments)  # HEALTHCHECK's own options
    arguments = arguments.removeprefix("CMD").strip()
    if arguments.startswith("["):
        words: list[str] = json.loads(arguments)
        return words
    return ["sh", "-c", arguments]


def relay_invocations(words: list[str]) -> list[list[str]]:
    """Every `relay ...` command line inside an argv, looking into `sh -c` scripts."""
    if not (len(words) >= 3 and words[0] in ("sh", "/bin/sh", "bash") and words[1] == "-c"):
        return [words[1:]] if words and Path(words[0]).name == "relay" else []
    lexer = shlex.shlex(words[2], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    found = []
    for tokens in commands:
        while tokens and tokens[0] in ("exec", "env"):
            tokens = tokens[1:]
        if tokens and Path(tokens[0]).name == "relay":
            found.append(tokens[1:])
    return found


def command_path(arguments: list[str]) -> list[str]:
    """The subcommand names of `relay` that these arguments select, down to a leaf command."""
    # Groups are told apart by their `commands` table: Typer may build on its own copy of
    # click, so isinstance checks against click's classes do not hold.
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in arguments:
        if not hasattr(command, "commands") or word.startswith("-"):
            break
        sub = command.commands.get(word)
        assert sub is not None, f"`relay {' '.join([*path, word])}` is not a relay command"
        command, path = sub, [*path, word]
    assert not hasattr(command, "commands"), f"`relay {' '.join(path)}` needs a subcommand"
    return path


def docker_commands() -> list[str]:
    return instruction("CMD") + instruction("ENTRYPOINT") + instruction("HEALTHCHECK")


def test_the_dockerfile_runs_migrations_then_serves() -> None:
    invocations = [
        " ".join(command_path(args))
        for arguments in instruction("CMD")
        for args in relay_invocations(command_words(arguments))
    ]
    assert invocations == ["db upgrade", "serve"]


@pytest.mark.parametrize(
    "arguments",
    [args for line in docker_commands() for args in relay_invocations(command_words(line))],
    ids=" ".join,
)
def test_every_relay_command_in_the_dockerfile_exists(arguments: list[str]) -> None:
    path = command_path(arguments)
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="relay")
    assert result.exit_code == 0, result.output
    assert "Usage: relay " + " ".join(path) in result.output


def test_the_container_runs_as_a_non_root_user() -> None:
    users = instruction("USER")
    assert users, "no USER instruction: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_healthcheck_asks_healthz() -> None:
    (healthcheck,) = instruction("HEALTHCHECK")
    words = command_words(healthcheck)
    assert "http://127.0.0.1:8000/healthz" in " ".join(words)
    assert instruction("EXPOSE") == ["8000"]
    assert "RELAY_HOST=0.0.0.0" in " ".join(instruction("ENV"))


def test_the_state_directory_is_a_volume() -> None:
    volumes = [
        volume
        for arguments in instruction("VOLUME")
        for volume in (json.loads(arguments) if arguments.startswith("[") else arguments.split())
    ]
    assert any(Path(volume).name == "var" for volume in volumes), volumes
    (workdir,) = instruction("WORKDIR")
    assert str(Path(workdir) / "var") in volumes


def test_parsing_sees_through_shell_form_and_continuations() -> None:
    parsed = parse_dockerfile("FROM x\n# comment\nCMD relay db upgrade \\\n  && exec relay serve\n")
    assert parsed == [("FROM", "x"), ("CMD", "relay db upgrade && exec relay serve")]
    assert relay_invocations(command_words(parsed[1][1])) == [["db", "upgrade"], ["serve"]]


def test_an_unknown_relay_command_is_caught() -> None:
    with pytest.raises(AssertionError, match="not a relay command"):
        command_path(["db", "nosuch"])
    with pytest.raises(AssertionError, match="needs a subcommand"):
        command_path(["db"])
