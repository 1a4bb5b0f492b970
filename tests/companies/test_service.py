"""The client directory: versions, phone numbers, and syncing whole folders of YAML."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from service.clock import ManualClock
from service.companies import service
from service.companies.models import Company, CompanyPhoneNumber
from service.companies.service import PhoneNumberTaken, SaveAction, SaveOutcome
from service.companies.validation import validate_document
from service.companies.yaml_io import InvalidCompanyFiles, dump_company, load_company_file
from tests.factories import company_document

CLIENTS = Path(__file__).resolve().parents[2] / "clients"


def save(
    session: Session, changed_by: str = "admin@relay.example", **overrides: Any
) -> SaveOutcome:
    config = validate_document(company_document(**overrides))
    outcome = service.save_company(session=session, config=config, changed_by=changed_by)
    session.commit()
    return outcome


def write(folder: Path, filename: str, **overrides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(
        dump_company(validate_document(company_document(**overrides))), encoding="utf-8"
    )
    return path


def test_a_new_company_is_version_one_with_who_and_when(
    session: Session, clock: ManualClock
) -> None:
    outcome = save(session, phone_numbers=["+815012345678"])

    assert outcome.action == SaveAction.created
    company = service.get_company(session=session, slug="sakura-dental")
    assert company is not None and company.version == 1 and company.updated_at == clock.now()
    [version] = service.company_versions(session=session, company=company)
    assert (version.version, version.changed_by, version.changed_at) == (
        1,
        "admin@relay.example",
        clock.now(),
    )
    assert (
        service.company_config(company).greeting
        == "お電話ありがとうございます。さくら歯科クリニックでございます。"
    )


def test_a_change_makes_version_two_and_an_identical_save_makes_none(
    session: Session, clock: ManualClock
) -> None:
    save(session)
    created_at = clock.now()
    clock.advance(timedelta(hours=3))

    changed = save(
        session,
        changed_by="tanaka@relay.example",
        greeting="お電話ありがとうございます。さくら歯科でございます。",
    )
    clock.advance(timedelta(hours=1))
    same = save(
        session,
        changed_by="someone@relay.example",
        greeting="お電話ありがとうございます。さくら歯科でございます。",
    )

    assert changed.action == SaveAction.updated and same.action == SaveAction.unchanged
    company = service.get_company(session=session, slug="sakura-dental")
    assert company is not None and company.version == 2
    assert company.updated_at == created_at + timedelta(hours=3)
    versions = service.company_versions(session=session, company=company)
    assert [(v.version, v.changed_by) for v in versions] == [
        (1, "admin@relay.example"),
        (2, "tanaka@relay.example"),
    ]
    assert versions[1].changed_at == created_at + timedelta(hours=3)
    assert versions[0].config["greeting"].endswith("さくら歯科クリニックでございます。")
    assert versions[1].config["greeting"].endswith("さくら歯科でございます。")


def test_phone_numbers_find_their_company_and_follow_changes(
    session: Session, clock: ManualClock
) -> None:
    save(session, phone_numbers=["+815012345678", "+81312345678"])
    assert service.find_company_by_phone(session=session, e164="+81312345678") is not None

    save(session, phone_numbers=["+815012345678", "+81356789012"])

    found = service.find_company_by_phone(session=session, e164="+81356789012")
    assert found is not None and found.slug == "sakura-dental"
    assert service.find_company_by_phone(session=session, e164="+81312345678") is None
    numbers = session.exec(select(CompanyPhoneNumber.e164)).all()
    assert sorted(numbers) == ["+81356789012", "+815012345678"]


def test_a_number_of_another_company_is_refused_naming_both(
    session: Session, clock: ManualClock
) -> None:
    save(session, slug="aoba-property", name="あおば不動産管理", phone_numbers=["+81222174410"])

    with pytest.raises(PhoneNumberTaken) as caught:
        save(session, phone_numbers=["+815012345678", "+81222174410"])

    session.rollback()
    assert "+81222174410 already belongs to aoba-property" in str(caught.value)
    assert "sakura-dental" in str(caught.value)
    assert service.get_company(session=session, slug="sakura-dental") is None


def test_companies_are_listed_by_slug(session: Session, clock: ManualClock) -> None:
    save(session, slug="tanaka-law", name="田中法律事務所")
    save(session, slug="aoba-property", name="あおば不動産管理")

    assert [c.slug for c in service.list_companies(session=session)] == [
        "aoba-property",
        "tanaka-law",
    ]


def test_sync_export_sync_changes_nothing(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    first = service.sync_path(session=session, path=CLIENTS, changed_by="cli:test")
    session.commit()
    written = service.export_all(session=session, directory=tmp_path / "out")
    again = service.sync_path(session=session, path=tmp_path / "out", changed_by="cli:test")
    original = service.sync_path(session=session, path=CLIENTS, changed_by="cli:test")

    assert {o.action for o in first} == {SaveAction.created} and len(first) == 4
    assert sorted(p.name for p in written) == sorted(p.name for p in CLIENTS.glob("*.yaml"))
    assert [o.action for o in again] == [SaveAction.unchanged] * 4
    assert [o.action for o in original] == [SaveAction.unchanged] * 4
    assert all(o.company.version == 1 for o in original)


def test_sync_of_one_file_updates_that_company(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    service.sync_path(session=session, path=CLIENTS, changed_by="cli:test")
    path = tmp_path / "sakura-dental.yaml"
    path.write_text(
        (CLIENTS / "sakura-dental.yaml")
        .read_text(encoding="utf-8")
        .replace("name: さくら歯科クリニック", "name: さくら歯科"),
        encoding="utf-8",
    )

    [outcome] = service.sync_path(session=session, path=path, changed_by="cli:sato")

    assert outcome.action == SaveAction.updated
    assert (outcome.company.name, outcome.company.version) == ("さくら歯科", 2)


def test_one_invalid_file_refuses_the_whole_folder(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    write(folder, "a-good.yaml", slug="a-good")
    bad = folder / "b-bad.yaml"
    bad.write_text(
        dump_company(validate_document(company_document(slug="b-bad"))).replace(
            "locale: ja", "locale: de"
        ),
        encoding="utf-8",
    )

    with pytest.raises(InvalidCompanyFiles) as caught:
        service.sync_path(session=session, path=folder, changed_by="cli:test")

    [error] = caught.value.errors
    assert str(error).startswith(f"{bad}:4: locale: ")
    assert session.exec(select(Company)).all() == []


def test_a_slug_in_two_files_is_refused(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    write(tmp_path, "one.yaml", phone_numbers=["+815012345678"])
    write(tmp_path, "two.yaml", phone_numbers=["+815098765432"])

    with pytest.raises(InvalidCompanyFiles) as caught:
        service.sync_path(session=session, path=tmp_path, changed_by="cli:test")

    [error] = caught.value.errors
    assert (error.file, error.line, error.field) == (str(tmp_path / "two.yaml"), 1, "slug")
    assert f"also used by {tmp_path / 'one.yaml'}" in error.reason


def test_a_number_in_two_files_is_refused(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    write(tmp_path, "a.yaml", slug="aoba-property", phone_numbers=["+815012345678"])
    write(tmp_path, "s.yaml", slug="sakura-dental", phone_numbers=["+81312345678", "+815012345678"])

    with pytest.raises(InvalidCompanyFiles) as caught:
        service.sync_path(session=session, path=tmp_path, changed_by="cli:test")

    [error] = caught.value.errors
    assert (error.line, error.field) == (3, "phone_numbers[1]")
    assert "+815012345678 is also a number of aoba-property" in error.reason
    assert session.exec(select(Company)).all() == []


def test_a_number_of_a_stored_company_is_refused_before_anything_changes(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    save(session, slug="aoba-property", name="あおば不動産管理", phone_numbers=["+81222174410"])
    write(tmp_path, "a.yaml", slug="another", phone_numbers=["+815012345678"])
    write(tmp_path, "b.yaml", slug="sakura-dental", phone_numbers=["+81222174410"])

    with pytest.raises(
        InvalidCompanyFiles,
        match=r"b.yaml:3: phone_numbers\[0\]: \+81222174410 already belongs to aoba-property",
    ):
        service.sync_path(session=session, path=tmp_path, changed_by="cli:test")

    assert [c.slug for c in service.list_companies(session=session)] == ["aoba-property"]


def test_a_number_can_move_between_companies_synced_together(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    save(
        session,
        slug="aoba-property",
        name="あおば不動産管理",
        phone_numbers=["+81222174410", "+815012345678"],
    )
    write(
        tmp_path,
        "a.yaml",
        slug="aoba-property",
        name="あおば不動産管理",
        phone_numbers=["+81222174410"],
    )
    write(tmp_path, "s.yaml", slug="sakura-dental", phone_numbers=["+815012345678"])

    outcomes = service.sync_path(session=session, path=tmp_path, changed_by="cli:test")
    session.commit()

    assert [o.action for o in outcomes] == [SaveAction.updated, SaveAction.created]
    moved = service.find_company_by_phone(session=session, e164="+815012345678")
    assert moved is not None and moved.slug == "sakura-dental"


@pytest.mark.parametrize("target", ["missing", "empty"])
def test_sync_of_nothing_is_refused(session: Session, tmp_path: Path, target: str) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(service.CompanyError, match=r"no such file|no \*.yaml"):
        service.sync_path(session=session, path=tmp_path / target, changed_by="cli:test")


def test_export_writes_one_loadable_file_per_company(
    session: Session, clock: ManualClock, tmp_path: Path
) -> None:
    shutil.copy(CLIENTS / "northwind-shop.yaml", tmp_path / "shop.yml")
    service.sync_path(session=session, path=tmp_path / "shop.yml", changed_by="cli:test")
    save(session, phone_numbers=["+815012345678"])

    written = service.export_all(session=session, directory=tmp_path / "export" / "today")

    assert [p.name for p in written] == ["northwind-shop.yaml", "sakura-dental.yaml"]
    shop = load_company_file(written[0]).config
    assert shop == load_company_file(CLIENTS / "northwind-shop.yaml").config
