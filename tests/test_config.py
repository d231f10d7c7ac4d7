from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import Settings, SettingsError, Target, load_settings, signing_keys
from app.main import create_app


def test_target_defaults_size_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "lambda")
    lam = load_settings()
    assert (lam.db_pool_size, lam.db_max_overflow, lam.docs_enabled, lam.metrics_enabled) == (
        1,
        0,
        False,
        False,
    )
    assert lam.db_pool_recycle_s < 1800  # below RDS Proxy's idle client timeout
    monkeypatch.setenv("TARGET", "fargate")
    monkeypatch.setenv("DB_POOL_SIZE", "12")
    fargate = load_settings()
    assert fargate.db_pool_size == 12
    assert fargate.trusted_proxy_hops == 1
    assert fargate.metrics_enabled


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TARGET", "mainframe"),
        ("DB_POOL_SIZE", "zero"),
        ("LOG_LEVEL", "LOUD"),
        ("ACCESS_TOKEN_TTL_S", "3600"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_jwt_keys_required_outside_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "ec2")
    monkeypatch.delenv("JWT_SIGNING_KEYS", raising=False)
    with pytest.raises(SettingsError, match="JWT_SIGNING_KEYS"):
        create_app()


@pytest.mark.parametrize(
    ("keys", "message"),
    [("not json", "JSON object"), ("{}", "non-empty"), ('{"a": "short"}', "under 32 bytes")],
)
def test_malformed_key_ring_is_refused(keys: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        signing_keys(Settings(target=Target.FARGATE, jwt_signing_keys=keys))


def test_active_kid_must_exist() -> None:
    keys = json.dumps({"a": "x" * 32})
    with pytest.raises(SettingsError, match="JWT_ACTIVE_KID"):
        signing_keys(Settings(jwt_signing_keys=keys, jwt_active_kid="b"))


def test_local_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(target=Target.LOCAL, data_dir=tmp_path)
    kid, first = signing_keys(settings)
    assert (tmp_path / "jwt-keys.json").stat().st_mode & 0o777 == 0o600
    assert signing_keys(settings) == (kid, first)


def test_wildcard_cors_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "*")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings()


def test_cors_origins_accept_csv_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("CORS_ORIGINS", '["https://c.example"]')
    assert load_settings().cors_origins == ["https://c.example"]


def test_missing_database_url_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings(target=Target.LOCAL).require_database_url()
