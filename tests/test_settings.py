"""The settings table: every kind of value parses, every bad value is refused naming its
variable (a secret's value never shown), and `gospulse settings` checks them all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gospulse.cli import main
from gospulse.config import settings
from gospulse.config.settings import OFF, SETTINGS, SettingError, problems, read


def test_every_default_is_a_value_of_its_type():
    for name, setting in SETTINGS.items():
        value = read(name, {})
        assert value == setting.default, name
        if value is not None and value != () and setting.shown_default is None:
            # the default, written out, parses back to itself
            written = "1" if value is True else str(value)
            assert setting.parse(written) == value, name


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("GOSPULSE_VK_RPS", " 2.5 ", 2.5),
        ("GOSPULSE_VK_TOKEN_COUNT", "3", 3),
        ("GOSPULSE_VK_MAX_RETRIES", "0", 0),
        ("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", "0.35", 0.35),
        ("GOSPULSE_PG_PUBLISH", "1", True),
        ("GOSPULSE_PG_PUBLISH", "0", False),
        (
            "GOSPULSE_ALERT_EMAIL_TO",
            "a@example.org, b@example.org ,",
            ("a@example.org", "b@example.org"),
        ),
        ("GOSPULSE_TG_SOURCE", "Preview", "preview"),
        ("GOSPULSE_DAILY_DEADLINE_HOURS", "off", OFF),
        ("GOSPULSE_DAILY_DEADLINE_HOURS", "1.5", 1.5),
        ("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "none", OFF),
        ("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "0", 0),
        ("GOSPULSE_RATE_DIR", "OFF", OFF),
        ("GOSPULSE_RATE_DIR", "/srv/rate", "/srv/rate"),
        ("GOSPULSE_VK_RPS", "", 3.0),  # empty is unset
    ],
)
def test_values_parse_as_their_type(name, raw, value):
    assert read(name, {name: raw}) == value


@pytest.mark.parametrize(
    ("name", "raw", "why"),
    [
        ("GOSPULSE_VK_RPS", "fast", "expected a number"),
        ("GOSPULSE_VK_RPS", "0", "expected a positive number"),
        ("GOSPULSE_VK_RPS", "nan", "expected a finite number"),
        ("GOSPULSE_VK_RPS", "inf", "expected a finite number"),
        ("GOSPULSE_VK_TOKEN_COUNT", "2.5", "expected a whole number"),
        ("GOSPULSE_VK_TOKEN_COUNT", "0", "expected at least 1"),
        ("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "-1", "expected at least 0"),
        ("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", "1.5", r"expected a share in \[0, 1\]"),
        ("GOSPULSE_PG_PUBLISH", "maybe", "expected 1 or 0"),
        ("GOSPULSE_TG_SOURCE", "bot", "expected one of mtproto, preview"),
        ("GOSPULSE_DBT_INVOCATION", "docker", "expected one of runner, subprocess"),
        ("GOSPULSE_DAILY_DEADLINE_HOURS", "never", "expected a number"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name, raw, why):
    with pytest.raises(SettingError, match=rf"^{name}='{raw}': {why}"):
        read(name, {name: raw})


def test_a_bad_secret_is_refused_without_showing_it():
    with pytest.raises(SettingError) as refused:
        read("GOSPULSE_PG_PORT", {"GOSPULSE_PG_PORT": "5432x"})
    assert "5432x" in str(refused.value)  # not a secret: shown
    secret = SETTINGS["TG_API_ID"]
    assert not secret.secret
    with pytest.raises(SettingError) as refused:
        read("TG_API_ID", {"TG_API_ID": "my-app"})
    assert "my-app" in str(refused.value)
    # a secret setting whose value does not parse: its name, never its value
    hidden = settings.Setting("GOSPULSE_X_SECRET", "a test secret", settings.whole(1), secret=True)
    with pytest.raises(SettingError) as refused:
        hidden.read({"GOSPULSE_X_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(refused.value)
    assert str(refused.value).startswith("GOSPULSE_X_SECRET=(secret): expected a whole number")


def test_an_unknown_setting_is_a_programming_error():
    with pytest.raises(KeyError, match="GOSPULSE_NOPE is not a gospulse setting"):
        read("GOSPULSE_NOPE", {})


def test_problems_lists_every_bad_value_at_once():
    env = {
        "GOSPULSE_VK_RPS": "fast",
        "GOSPULSE_OK_TOKEN_COUNT": "none",
        "GOSPULSE_TG_RPS": "2",
        "GOSPULSE_PG_PASSWORD": "hunter2",
    }
    found = problems(env)
    assert len(found) == 2
    assert any(p.startswith("GOSPULSE_VK_RPS=") for p in found)
    assert any(p.startswith("GOSPULSE_OK_TOKEN_COUNT=") for p in found)
    assert problems({}) == []


def test_the_command_lists_what_is_set_hides_secrets_and_fails_on_a_bad_value(monkeypatch, capsys):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOSPULSE_VK_RPS", "5")
    monkeypatch.setenv("GOSPULSE_PG_PASSWORD", "hunter2")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "GOSPULSE_VK_RPS=5" in out and "GOSPULSE_PG_PASSWORD=(set)" in out
    assert "hunter2" not in out
    monkeypatch.setenv("GOSPULSE_OK_RPS", "-3")
    assert main(["settings"]) == 1
    assert "error: GOSPULSE_OK_RPS='-3': expected a positive number" in capsys.readouterr().err


def test_readers_refuse_bad_values_through_the_table(monkeypatch):
    """The modules that read a setting raise their own errors, with the table's message."""
    from expectations.raw_batch import max_error_share_from_env
    from extractors.shared_window import ledger_dir
    from extractors.telegram.client import TelegramConfigError, env_number
    from gospulse.config.dates import max_snapshot_lag
    from gospulse.extract.pipeline import vk_client_from_env

    assert ledger_dir({"GOSPULSE_RATE_DIR": "/srv/rate"}) == Path("/srv/rate")
    assert max_snapshot_lag({"GOSPULSE_SNAPSHOT_MAX_LAG_DAYS": "none"}) is None
    with pytest.raises(SettingError, match="GOSPULSE_SNAPSHOT_MAX_LAG_DAYS='soon'"):
        max_snapshot_lag({"GOSPULSE_SNAPSHOT_MAX_LAG_DAYS": "soon"})
    monkeypatch.setenv("GOSPULSE_TG_RPS", "0")
    with pytest.raises(TelegramConfigError, match="GOSPULSE_TG_RPS='0'"):
        env_number("GOSPULSE_TG_RPS")
    from extractors.telegram.client import telegram_client_from_env

    monkeypatch.delenv("GOSPULSE_TG_API_URL", raising=False)
    monkeypatch.setenv("TG_API_ID", "my-app")
    with pytest.raises(TelegramConfigError, match="TG_API_ID='my-app': expected a whole number"):
        telegram_client_from_env(api_hash="hash", session="session")
    monkeypatch.setenv("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", "-0.1")
    with pytest.raises(SettingError, match="GOSPULSE_RAW_GATE_MAX_ERROR_SHARE"):
        max_error_share_from_env()
    from extractors.ok.client import ok_client_from_env

    monkeypatch.setenv("GOSPULSE_OK_RPS", "fast")
    with pytest.raises(SettingError, match="GOSPULSE_OK_RPS='fast'"):
        ok_client_from_env("key", "token", None, "secret")
    monkeypatch.setenv("VK_TOKEN", "a-token")
    monkeypatch.setenv("GOSPULSE_VK_MAX_RETRIES", "many")
    with pytest.raises(SettingError, match="GOSPULSE_VK_MAX_RETRIES='many'"):
        vk_client_from_env()


def test_a_bad_value_stops_a_command_and_the_daily_run_before_any_work(
    monkeypatch, capsys, tmp_path
):
    from gospulse.orchestration import tasks

    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOSPULSE_VK_RPS", "fast")
    monkeypatch.setenv("GOSPULSE_OK_TOKEN_COUNT", "0")
    registry = tmp_path / "42.csv"
    registry.write_text("network,page_ref,title\nvk,1,x\n", encoding="utf-8")
    assert main(["registry", "validate", str(registry)]) == 2
    err = capsys.readouterr().err
    assert "GOSPULSE_VK_RPS='fast'" in err and "GOSPULSE_OK_TOKEN_COUNT='0'" in err
    with pytest.raises(SettingError, match="GOSPULSE_VK_RPS='fast'.*GOSPULSE_OK_TOKEN_COUNT"):
        tasks.check_registry()
