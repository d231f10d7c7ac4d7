from __future__ import annotations

import json

import pytest

from app.config import TARGET_DEFAULTS, Settings, SettingsError, Target, load_settings
from app.main import create_app


def test_target_defaults_size_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "lambda")
    lam = load_settings()
    assert (lam.db.pool_size, lam.db.max_overflow) == (1, 0)
    assert not lam.http.docs_enabled
    assert not lam.observability.metrics_enabled
    assert lam.db.pool_recycle_s < 1800  # below RDS Proxy's idle client timeout
    monkeypatch.setenv("TARGET", "fargate")
    monkeypatch.setenv("DB_POOL_SIZE", "12")
    fargate = load_settings()
    assert fargate.db.pool_size == 12
    assert fargate.http.trusted_proxy_hops == 1
    assert fargate.observability.metrics_enabled


def test_a_set_variable_beats_its_targets_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "lambda")
    monkeypatch.setenv("DB_SSLMODE", "verify-full")
    monkeypatch.setenv("DOCS_ENABLED", "true")
    settings = load_settings(db_pool_recycle_s=600)
    assert (settings.db.sslmode, settings.http.docs_enabled) == ("verify-full", True)
    assert settings.db.pool_recycle_s == 600
    assert settings.db.pool_size == 1  # the rest still from the target


def test_target_defaults_list_only_what_differs() -> None:
    for target, concerns in TARGET_DEFAULTS.items():
        for concern, values in concerns.items():
            model = Settings.CONCERNS[concern]
            for name, value in values.items():
                assert model.model_fields[name].get_default(call_default_factory=True) != value, (
                    target,
                    concern,
                    name,
                )


def test_every_variable_reads_back_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_BUCKET", "from-env")
    monkeypatch.setenv("DIAGNOSTIC_JOBS", "false")
    settings = load_settings(sql_echo=True, WORKER_CONCURRENCY=7)
    assert settings.files.bucket == settings.read("S3_BUCKET") == "from-env"
    assert settings.jobs.diagnostic is False
    assert settings.db.echo is True
    assert settings.jobs.worker_concurrency == settings.read("worker_concurrency") == 7
    with pytest.raises(TypeError, match="unknown variable 'db_pool_siz'"):
        load_settings(db_pool_siz=3)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TARGET", "mainframe"),
        ("DB_POOL_SIZE", "zero"),
        ("LOG_LEVEL", "LOUD"),
        ("ACCESS_TOKEN_TTL_S", "3600"),
        ("SQL_ECHO", "maybe"),
        ("FILES_ALLOWED_TYPES", "application/x-msdownload"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}: "):
        load_settings()


def test_every_invalid_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "zero")
    monkeypatch.setenv("JOBS_LEASE_S", "1")
    with pytest.raises(SettingsError, match=r"DB_POOL_SIZE: .*; JOBS_LEASE_S: "):
        load_settings()


def test_jwt_keys_required_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET", "ec2")
    monkeypatch.delenv("JWT_SIGNING_KEYS", raising=False)
    with pytest.raises(SettingsError, match="JWT_SIGNING_KEYS is not set"):
        create_app()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("not json", "JSON object"),
        ("{}", "non-empty"),
        ('["a"]', "non-empty"),
        ('{"a": "short"}', "under 32 bytes"),
    ],
)
def test_malformed_key_ring_is_refused(keys: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"JWT_SIGNING_KEYS: .*{message}"):
        load_settings(target=Target.FARGATE, jwt_signing_keys=keys)


def test_key_ring_is_a_secret_and_the_active_kid_signs() -> None:
    ring = {"old": "o" * 32, "new": "n" * 32}
    settings = load_settings(jwt_signing_keys=json.dumps(ring), jwt_active_kid="new")
    assert "n" * 32 not in repr(settings)
    assert "o" * 32 not in str(settings)
    assert settings.auth.key_ring() == ("new", ring)
    assert load_settings(jwt_signing_keys=json.dumps(ring)).auth.key_ring()[0] == "old"


def test_active_kid_must_exist() -> None:
    keys = json.dumps({"a": "x" * 32})
    with pytest.raises(SettingsError, match="JWT_ACTIVE_KID 'b' is not in JWT_SIGNING_KEYS"):
        load_settings(jwt_signing_keys=keys, jwt_active_kid="b")


def test_wildcard_cors_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "*")
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings()


def test_cors_origins_accept_csv_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().http.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("CORS_ORIGINS", '["https://c.example"]')
    assert load_settings().http.cors_origins == ["https://c.example"]


def test_missing_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(target=Target.LOCAL).db.require_url()
