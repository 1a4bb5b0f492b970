"""`relay clients sync|export` against a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from service.cli import app
from service.companies import service
from service.db import make_engine
from service.models import metadata
from service.settings import get_settings

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
runner = CliRunner()


@pytest.fixture
def cli_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh SQLite database that the `relay` command is pointed at."""
    for name in list(os.environ):
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    monkeypatch.setenv("RELAY_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("getpass.getuser", lambda: "sato")
    engine = make_engine(url)
    metadata.create_all(engine)
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()
    engine.dispose()


def slugs(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [company.slug for company in service.list_companies(session=session)]


def test_sync_prints_each_company_and_a_total(cli_engine: Engine) -> None:
    result = runner.invoke(app, ["clients", "sync", str(CLIENTS)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "created   sakura-dental (version 1)" in lines
    assert lines[-1] == "4 companies: 4 created, 0 updated, 0 unchanged"
    assert slugs(cli_engine) == [
        "aoba-property",
        "michinori-road-service",
        "northwind-shop",
        "sakura-dental",
    ]


def test_changes_are_recorded_as_made_by_the_login_user(cli_engine: Engine) -> None:
    runner.invoke(app, ["clients", "sync", str(CLIENTS / "sakura-dental.yaml")])

    with Session(cli_engine) as session:
        company = service.get_company(session=session, slug="sakura-dental")
        assert company is not None
        [version] = service.company_versions(session=session, company=company)
    assert version.changed_by == "cli:sato"


def test_sync_export_sync_reports_every_company_unchanged(
    cli_engine: Engine, tmp_path: Path
) -> None:
    runner.invoke(app, ["clients", "sync", str(CLIENTS)])

    exported = runner.invoke(app, ["clients", "export", str(tmp_path / "out")])
    again = runner.invoke(app, ["clients", "sync", str(tmp_path / "out")])

    assert exported.exit_code == 0, exported.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in CLIENTS.glob("*.yaml")
    )
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1] == "4 companies: 0 created, 0 updated, 4 unchanged"


def test_an_edited_file_is_reported_updated(cli_engine: Engine, tmp_path: Path) -> None:
    runner.invoke(app, ["clients", "sync", str(CLIENTS)])
    edited = tmp_path / "shop.yaml"
    text = (CLIENTS / "northwind-shop.yaml").read_text(encoding="utf-8")
    edited.write_text(text.replace('close: "20:00"', 'close: "21:00"'), encoding="utf-8")

    result = runner.invoke(app, ["clients", "sync", str(edited)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "updated   northwind-shop (version 2)",
        "1 company: 0 created, 1 updated, 0 unchanged",
    ]


def test_an_invalid_file_is_refused_with_file_line_reason_and_nothing_changes(
    cli_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    for path in CLIENTS.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    broken = folder / "sakura-dental.yaml"
    lines = broken.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if "key: director" in line)
    lines[number] = lines[number].replace("+819031824471", "+81 90-3182")
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = runner.invoke(app, ["clients", "sync", str(folder)])

    assert result.exit_code == 1
    assert f"{broken}:{number + 1}: contacts[0].phone: not a valid E.164 number" in result.stderr
    assert "nothing changed" in result.stderr
    assert result.stdout == ""
    assert slugs(cli_engine) == []


def test_a_refusal_is_printed_in_english_whatever_the_companys_language(
    cli_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    broken = folder / "sakura-dental.yaml"
    text = (CLIENTS / "sakura-dental.yaml").read_text(encoding="utf-8")
    assert "locale: ja" in text
    broken.write_text(text.replace("key: director", "key: boss", 1), encoding="utf-8")

    result = runner.invoke(app, ["clients", "sync", str(folder)])

    assert result.exit_code == 1
    assert "unknown contact 'director' (contacts are: boss" in result.stderr
    assert "連絡先" not in result.stderr
    assert slugs(cli_engine) == []


def test_a_missing_path_is_refused(cli_engine: Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["clients", "sync", str(tmp_path / "nowhere")])

    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


def test_a_database_without_tables_gets_one_clear_line(
    cli_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()

    result = runner.invoke(app, ["clients", "sync", str(CLIENTS)])

    assert result.exit_code == 1
    assert "database error: no such table" in result.stderr
    assert "relay db upgrade" in result.stderr


def test_if_empty_loads_the_examples_into_an_empty_database_only(
    cli_engine: Engine, tmp_path: Path
) -> None:
    first = runner.invoke(app, ["clients", "sync", "--if-empty", str(CLIENTS)])
    # An admin changes a company afterwards; the next start must leave it as it is.
    edited = tmp_path / "sakura.yaml"
    text = (CLIENTS / "sakura-dental.yaml").read_text(encoding="utf-8")
    edited.write_text(
        text.replace("name: さくら歯科クリニック", "name: さくら歯科"), encoding="utf-8"
    )
    runner.invoke(app, ["clients", "sync", str(edited)])

    second = runner.invoke(app, ["clients", "sync", "--if-empty", str(CLIENTS)])

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == "4 companies: 4 created, 0 updated, 0 unchanged"
    assert second.exit_code == 0, second.output
    assert "not loaded" in second.stdout
    with Session(cli_engine) as session:
        company = service.get_company(session=session, slug="sakura-dental")
        assert company is not None
        assert (company.name, company.version) == ("さくら歯科", 2)


def test_a_sync_is_a_version_with_a_summary_and_an_audit_entry(
    cli_engine: Engine, tmp_path: Path
) -> None:

    from service.audit.models import AuditEntry

    runner.invoke(app, ["clients", "sync", str(CLIENTS / "sakura-dental.yaml")])
    edited = tmp_path / "sakura.yaml"
    text = (CLIENTS / "sakura-dental.yaml").read_text(encoding="utf-8")
    edited.write_text(text.replace("お電話ありがとうございます。", "お電話ありがとう存じます。"))
    runner.invoke(app, ["clients", "sync", str(edited)])

    with Session(cli_engine) as session:
        company = service.get_company(session=session, slug="sakura-dental")
        assert company is not None
        versions = service.company_versions(session=session, company=company)
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.at))).all()
    assert [(v.version, v.summary, v.changed_by) for v in versions] == [
        (1, "created", "cli:sato"),
        (2, "greeting changed", "cli:sato"),
    ]
    assert [(e.actor, e.action, e.target, e.detail["version"]) for e in entries] == [
        ("cli:sato", "company.saved", "company:sakura-dental", "1"),
        ("cli:sato", "company.saved", "company:sakura-dental", "2"),
    ]


def test_export_of_one_company_reads_back_unchanged(cli_engine: Engine, tmp_path: Path) -> None:
    runner.invoke(app, ["clients", "sync", str(CLIENTS)])

    printed = runner.invoke(app, ["clients", "export", "--client", "sakura-dental", "-"])
    to_file = runner.invoke(
        app, ["clients", "export", "--client", "aoba-property", str(tmp_path / "aoba.yaml")]
    )
    (tmp_path / "sakura.yaml").write_text(printed.stdout, encoding="utf-8")
    again = runner.invoke(app, ["clients", "sync", str(tmp_path / "sakura.yaml")])
    aoba = runner.invoke(app, ["clients", "sync", str(tmp_path / "aoba.yaml")])
    unknown = runner.invoke(app, ["clients", "export", "--client", "nobody", "-"])

    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("slug: sakura-dental\n")
    assert to_file.exit_code == 0, to_file.output
    assert again.stdout.splitlines()[0] == "unchanged sakura-dental (version 1)"
    assert aoba.stdout.splitlines()[0] == "unchanged aoba-property (version 1)"
    assert unknown.exit_code == 1
    assert "nobody" in unknown.output
