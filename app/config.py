"""Settings read from the environment, validated once when the app is built.

Every field maps to an upper-case environment variable of the same name
(``TARGET``, ``DATABASE_URL``, ...). Fields left unset take a per-target default
from ``TARGET_DEFAULTS`` so that one code base sizes itself for Lambda,
Fargate, EC2 or a laptop.
"""

from __future__ import annotations

import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Target(StrEnum):
    LOCAL = "local"
    LAMBDA = "lambda"
    FARGATE = "fargate"
    EC2 = "ec2"


# Only fields the user did not set are filled from here (before validation, so the
# fields stay plain typed values and a bad override is reported like any other).
TARGET_DEFAULTS: dict[Target, dict[str, Any]] = {
    # One connection per execution environment: RDS Proxy multiplexes, and every
    # extra connection is a TLS + auth handshake paid by some request. Routes never hold
    # the request's connection while a side transaction needs one (tests/reliability
    # /test_pool.py runs every route on a single connection).
    Target.LAMBDA: {
        "db_pool_size": 1,
        "db_max_overflow": 0,
        "db_pool_timeout_s": 5.0,
        # Below RDS Proxy's default client idle timeout (1800 s).
        "db_pool_recycle_s": 1500,
        "db_statement_timeout_ms": 10_000,
        "db_sslmode": "require",
        "request_timeout_s": 25.0,
        "docs_enabled": False,
        "metrics_enabled": False,
        "trusted_proxy_hops": 0,
        "diagnostic_jobs": False,
    },
    Target.FARGATE: {
        "db_pool_size": 5,
        "db_max_overflow": 5,
        "db_pool_timeout_s": 3.0,
        "db_pool_recycle_s": 1800,
        "db_statement_timeout_ms": 10_000,
        "db_sslmode": "require",
        "request_timeout_s": 30.0,
        "docs_enabled": False,
        "metrics_enabled": True,
        # The ALB appends the peer address to X-Forwarded-For.
        "trusted_proxy_hops": 1,
        "diagnostic_jobs": False,
    },
    Target.EC2: {
        "db_pool_size": 5,
        "db_max_overflow": 5,
        "db_pool_timeout_s": 3.0,
        "db_pool_recycle_s": 1800,
        "db_statement_timeout_ms": 10_000,
        "db_sslmode": "require",
        "request_timeout_s": 30.0,
        "docs_enabled": False,
        "metrics_enabled": True,
        "trusted_proxy_hops": 1,
        "diagnostic_jobs": False,
    },
    Target.LOCAL: {
        "db_pool_size": 5,
        "db_max_overflow": 5,
        "db_pool_timeout_s": 3.0,
        "db_pool_recycle_s": 1800,
        "db_statement_timeout_ms": 10_000,
        "db_sslmode": "disable",
        "request_timeout_s": 30.0,
        "docs_enabled": True,
        "metrics_enabled": True,
        "trusted_proxy_hops": 0,
        "diagnostic_jobs": True,
    },
}

MAX_ACCESS_TOKEN_TTL_S = 900
# Upload types whose content app/files/verify.py knows how to check.
SUPPORTED_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "application/pdf",
    "text/csv",
    "text/plain",
    "application/zip",
)


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class SettingsError(RuntimeError):
    """Raised at startup when the environment does not describe a runnable app."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True
    )

    target: Target = Target.LOCAL
    data_dir: Path = Path(".data")
    database_url: SecretStr | None = None
    # Or the pieces (what CDK hands over); DATABASE_URL wins when both are set.
    db_host: str | None = None  # a name, an address, or a Unix socket directory
    db_port: int = Field(default=5432, ge=1, le=65_535)
    db_name: str | None = None
    db_user: str | None = None
    db_password: SecretStr | None = None
    # Connect with a short-lived IAM token signed locally instead of a password (RDS Proxy).
    db_iam_auth: bool = False
    # asyncpg's libpq-style modes; "require" on AWS targets, "disable" locally.
    db_sslmode: SslMode = "disable"
    db_pool_size: int = Field(default=5, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    db_pool_timeout_s: float = Field(default=3.0, gt=0, le=60)
    db_pool_recycle_s: int = Field(default=1800, ge=60)
    # A pooled connection idle this long is pinged before use (closed ones are always
    # replaced, at no cost); busier ones go straight to work.
    db_idle_ping_s: float = Field(default=30.0, ge=0)
    db_statement_timeout_ms: int = Field(default=10_000, ge=100)
    # asyncpg's named-statement cache. 0 makes every statement unnamed: the escape hatch if
    # RDS Proxy ever pins sessions on named prepared statements (its docs say it does not).
    db_statement_cache_size: int = Field(default=100, ge=0, le=10_000)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    request_timeout_s: float = Field(default=30.0, gt=0, le=900)
    ready_timeout_s: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    migrate_on_startup: bool = True
    docs_enabled: bool = True
    metrics_enabled: bool = True
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)

    # JSON object {"kid": "secret", ...}; the active kid signs, every kid verifies.
    jwt_signing_keys: SecretStr | None = None
    jwt_active_kid: str | None = None
    jwt_issuer: str = "trident"
    access_token_ttl_s: int = Field(default=900, ge=30, le=MAX_ACCESS_TOKEN_TTL_S)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=300)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65_536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=60, ge=1)
    register_max_per_window: int = Field(default=10, ge=1)
    register_window_s: int = Field(default=60, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False

    log_level: str = "INFO"
    sql_echo: bool = False
    # X-Ray through Powertools Tracer (Lambda): its SDK import alone costs ~240 ms of cold start.
    tracing_enabled: bool = False

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    aws_connect_timeout_s: float = Field(default=2.0, gt=0)
    aws_read_timeout_s: float = Field(default=10.0, gt=0)
    aws_max_attempts: int = Field(default=3, ge=1, le=10)
    # Circuit breaker per service (app/aws.py): open after this many unreachable calls in
    # a row (each already retried), fail fast for AWS_BREAKER_RESET_S, then probe once.
    aws_breaker_failures: int = Field(default=5, ge=1, le=1000)
    aws_breaker_reset_s: float = Field(default=30.0, gt=0, le=3600)
    s3_bucket: str = "trident-local"

    jobs_queue_url: str | None = None
    jobs_dlq_url: str | None = None
    # Must equal the queue's redrive policy: the attempt that reaches it marks the job dead.
    jobs_max_receive_count: int = Field(default=5, ge=1, le=1000)
    # A claimed job is someone's for this long unless its worker keeps extending it.
    jobs_lease_s: int = Field(default=60, ge=5, le=43_200)
    # The queue's own VisibilityTimeout (CDK sets both): the first extension must beat it.
    jobs_visibility_timeout_s: int = Field(default=60, ge=1, le=43_200)
    # Jobs still queued (never sent) or with a lapsed lease this long are sent again.
    jobs_sweep_after_s: int = Field(default=300, ge=1)
    jobs_sweep_interval_s: float = Field(default=30.0, gt=0)
    worker_concurrency: int = Field(default=4, ge=1, le=100)
    # SQS long-poll wait; a stopping worker may wait this long for an open poll to return.
    worker_poll_wait_s: int = Field(default=20, ge=0, le=20)
    worker_shutdown_grace_s: float = Field(default=25.0, ge=0)
    # Diagnostic job kinds (sleep, flaky, fail); on by default only for TARGET=local.
    diagnostic_jobs: bool = True

    # Uploads (app/files): what may be uploaded, how big, and for how long a link is good.
    files_allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(SUPPORTED_FILE_TYPES)
    )
    # At most 5 GiB: a verified upload is moved with one CopyObject call.
    files_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=5 * 1024**3)
    files_presign_expires_s: int = Field(default=600, ge=30, le=3600)
    files_presign_max_per_window: int = Field(default=60, ge=1)
    files_presign_window_s: int = Field(default=60, ge=1)
    files_download_expires_s: int = Field(default=300, ge=10, le=604_800)
    # S3 checks a POST policy's expiry when the upload starts; the event is stamped at its end.
    files_upload_grace_s: int = Field(default=300, ge=0, le=3600)
    # Uploads never completed are cleaned up after this long (the worker checks hourly).
    files_pending_max_age_s: int = Field(default=86_400, ge=60)
    files_cleanup_interval_s: float = Field(default=3600.0, gt=0)
    # Bucket CORS: the origins the upload page is served from (empty: make dev's own).
    files_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", "files_cors_origins", "files_allowed_types", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("files_allowed_types")
    @classmethod
    def _supported_types(cls, value: list[str]) -> list[str]:
        types = [item.lower() for item in value]
        unknown = sorted(set(types) - set(SUPPORTED_FILE_TYPES))
        if unknown or not types:
            raise ValueError(f"must be a non-empty subset of {', '.join(SUPPORTED_FILE_TYPES)}")
        return types

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="before")
    @classmethod
    def _apply_target_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            target = Target(str(data.get("target", Target.LOCAL)).lower())
        except ValueError:
            return data  # the target field itself reports the bad value
        given = {key: value for key, value in data.items() if value is not None}
        return {**TARGET_DEFAULTS[target], **given}

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("CORS_ORIGINS='*' cannot be combined with CORS_ALLOW_CREDENTIALS=true")
        if self.database_url is None and (self.db_host or self.db_name or self.db_user):
            missing = self._missing_database_pieces()
            if missing:
                # Not a ValueError: pydantic would bury the variable's name in its own wording.
                raise SettingsError(
                    f"{missing[0]} is not set (DB_HOST, DB_NAME, DB_USER and, without "
                    "DB_IAM_AUTH, DB_PASSWORD describe the database when DATABASE_URL is unset)"
                )
        return self

    def _missing_database_pieces(self) -> list[str]:
        pieces = {"DB_HOST": self.db_host, "DB_NAME": self.db_name, "DB_USER": self.db_user}
        if not self.db_iam_auth:
            password = self.db_password
            pieces["DB_PASSWORD"] = password.get_secret_value() if password else None
        return [name for name, value in pieces.items() if not value]

    def require_queue_url(self) -> str:
        if not self.jobs_queue_url:
            raise SettingsError("JOBS_QUEUE_URL is not set")
        return self.jobs_queue_url

    def require_dlq_url(self) -> str:
        if not self.jobs_dlq_url:
            raise SettingsError("JOBS_DLQ_URL is not set")
        return self.jobs_dlq_url

    def require_database_url(self) -> str:
        """DATABASE_URL, else a URL composed from the DB_* pieces.

        Under DB_IAM_AUTH the URL has no password: the engine signs a token per connection.
        """
        if self.database_url is None and self.db_host:
            return self._composed_database_url()
        if self.database_url is None:
            hint = (
                " (run `make dev`, which starts a local PostgreSQL)"
                if (self.target is Target.LOCAL)
                else ""
            )
            raise SettingsError(f"DATABASE_URL is not set{hint}")
        return self.database_url.get_secret_value()

    def _composed_database_url(self) -> str:
        user = quote(self.db_user or "", safe="")
        if self.db_password is not None and not self.db_iam_auth:
            user += ":" + quote(self.db_password.get_secret_value(), safe="")
        name = quote(self.db_name or "", safe="")
        host = self.db_host or ""
        if host.startswith("/"):  # a Unix socket directory (local PostgreSQL)
            return f"postgresql://{user}@/{name}?host={quote(host)}&port={self.db_port}"
        return f"postgresql://{user}@{host}:{self.db_port}/{name}"


def _local_signing_keys(data_dir: Path) -> dict[str, str]:
    """Generate a key ring once per checkout so local tokens survive restarts."""
    path = data_dir / "jwt-keys.json"
    if path.exists():
        keys: dict[str, str] = json.loads(path.read_text())
        return keys
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = {"local-1": secrets.token_urlsafe(48)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return keys


def signing_keys(settings: Settings) -> tuple[str, dict[str, str]]:
    """Return (active kid, key ring); fail naming the variable when unusable."""
    if settings.jwt_signing_keys is None:
        if settings.target is not Target.LOCAL:
            raise SettingsError(f"JWT_SIGNING_KEYS is required when TARGET={settings.target}")
        keys = _local_signing_keys(settings.data_dir)
    else:
        try:
            keys = json.loads(settings.jwt_signing_keys.get_secret_value())
        except json.JSONDecodeError as exc:
            raise SettingsError("JWT_SIGNING_KEYS must be a JSON object {kid: secret}") from exc
        if (
            not isinstance(keys, dict)
            or not keys
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items())
        ):
            raise SettingsError("JWT_SIGNING_KEYS must be a non-empty JSON object {kid: secret}")
    short = [kid for kid, secret in keys.items() if len(secret.encode()) < 32]
    if short:
        raise SettingsError(f"JWT_SIGNING_KEYS: secret for kid {short[0]!r} is under 32 bytes")
    active = settings.jwt_active_kid or next(iter(keys))
    if active not in keys:
        raise SettingsError(f"JWT_ACTIVE_KID {active!r} is not in JWT_SIGNING_KEYS")
    return active, keys


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
