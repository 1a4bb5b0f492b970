"""RELAY_PREVIOUS_SECRET_KEYS: the keys still accepted after RELAY_SECRET_KEY changes."""

from __future__ import annotations

import pytest

from service.settings import ConfigError, load_settings

NEW_KEY = "the-new-secret-key-9876543210"
OLD_KEY = "the-old-secret-key-0123456789"
OLDER_KEY = "an-even-older-key-000000"


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_none_by_default_so_only_the_current_key_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    settings = load_settings()

    assert settings.previous_secret_keys == []
    assert settings.verifying_secrets() == [NEW_KEY]


@pytest.mark.parametrize(
    "value",
    [
        f"{OLD_KEY},{OLDER_KEY}",
        f" {OLD_KEY} , {OLDER_KEY},",
        f'["{OLD_KEY}", "{OLDER_KEY}"]',
    ],
)
def test_read_comma_separated_or_as_a_json_list_after_the_current_key(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", value)

    settings = load_settings()

    assert settings.verifying_secrets() == [NEW_KEY, OLD_KEY, OLDER_KEY]
    assert OLD_KEY not in repr(settings)


def test_the_current_key_listed_again_or_twice_counts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", f"{NEW_KEY},{OLD_KEY},{OLD_KEY}")

    assert load_settings().verifying_secrets() == [NEW_KEY, OLD_KEY]


def test_with_the_generated_key_the_previous_ones_follow_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", OLD_KEY)
    settings = load_settings()

    assert settings.verifying_secrets() == [settings.secret(), OLD_KEY]


@pytest.mark.parametrize("value", [f"{OLD_KEY},short", "short", '["short"]'])
def test_a_previous_key_shorter_than_16_characters_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", value)

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert str(raised.value) == (
        "invalid configuration: RELAY_PREVIOUS_SECRET_KEYS: each key must be at least 16 characters"
    )


def test_a_broken_json_list_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELAY_PREVIOUS_SECRET_KEYS", f'["{OLD_KEY}"')

    with pytest.raises(ConfigError, match="RELAY_PREVIOUS_SECRET_KEYS"):
        load_settings()
