"""Settings read from the environment, validated once when the app is built.

Each concern has its own model (``settings.db``, ``.auth``, ``.files``, ``.jobs``, ``.aws``,
``.http``, ``.observability``); the domains own theirs (``app/<domain>/settings.py``), the
cross-cutting ones live here. Every field keeps one flat environment variable
(``DB_POOL_SIZE``, ``JWT_SIGNING_KEYS``, ``S3_BUCKET``...), the name the README and CDK use,
and overrides passed to ``load_settings`` use the same names. A field left unset takes its
target's value from ``TARGET_DEFAULTS`` if it differs there, else the field's own default,
which is what a laptop runs with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from app.auth.settings import AuthSettings
from app.concerns import Concern, SettingsError, split_list
from app.files.settings import FilesSettings
from app.jobs.settings import JobsSettings

__all__ = ["TARGET_DEFAULTS", "VARIABLES", "Settings", "SettingsError", "Target", "load_settings"]


class Target(StrEnum):
    LOCAL = "local"
    LAMBDA = "lambda"
    FARGATE = "fargate"
    EC2 = "ec2"


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class DatabaseSettings(Concern):
    model_config = SettingsConfigDict(env_prefix="DB_")

    url: SecretStr | None = Field(default=None, validation_alias="database_url")
    # Or the pieces (what CDK hands over); DATABASE_URL wins when both are set.
    host: str | None = None  # a name, an address, or a Unix socket directory
    port: int = Field(default=5432, ge=1, le=65_535)
    name: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    # Connect with a short-lived IAM token signed locally instead of a password (RDS Proxy).
    iam_auth: bool = False
    # asyncpg's libpq-style modes.
    sslmode: SslMode = "disable"
    pool_size: int = Field(default=5, ge=1, le=200)
    max_overflow: int = Field(default=5, ge=0, le=200)
    pool_timeout_s: float = Field(default=3.0, gt=0, le=60)
    pool_recycle_s: int = Field(default=1800, ge=60)
    # A pooled connection idle this long is pinged before use (closed ones are always
    # replaced, at no cost); busier ones go straight to work.
    idle_ping_s: float = Field(default=30.0, ge=0)
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    # asyncpg's named-statement cache. 0 makes every statement unnamed: the escape hatch if
    # RDS Proxy ever pins sessions on named prepared statements (its docs say it does not).
    statement_cache_size: int = Field(default=100, ge=0, le=10_000)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    echo: bool = Field(default=False, validation_alias="sql_echo")
    migrate_on_startup: bool = Field(default=True, validation_alias="migrate_on_startup")

    @model_validator(mode="after")
    def _pieces_complete(self) -> Self:
        if self.url is None and (self.host or self.name or self.user):
            pieces = {"DB_HOST": self.host, "DB_NAME": self.name, "DB_USER": self.user}
            if not self.iam_auth:
                pieces["DB_PASSWORD"] = self.password.get_secret_value() if self.password else None
            missing = [variable for variable, value in pieces.items() if not value]
            if missing:
                # Not a ValueError: pydantic would bury the variable's name in its own wording.
                raise SettingsError(
                    f"{missing[0]} is not set (DB_HOST, DB_NAME, DB_USER and, without "
                    "DB_IAM_AUTH, DB_PASSWORD describe the database when DATABASE_URL is unset)"
                )
        return self

    def require_url(self) -> str:
        """DATABASE_URL, else a URL composed from the DB_* pieces.

        Under DB_IAM_AUTH the URL has no password: the engine signs a token per connection.
        """
        if self.url is not None:
            return self.url.get_secret_value()
        if not self.host:
            raise SettingsError(
                "DATABASE_URL is not set (`make dev` starts a local PostgreSQL and sets it)"
            )
        from sqlalchemy.engine import URL  # only where an engine is about to be made

        socket_dir = self.host.startswith("/")  # local PostgreSQL
        password = None if self.iam_auth or self.password is None else self.password
        url = URL.create(
            "postgresql",
            username=self.user,
            password=password.get_secret_value() if password else None,
            host=None if socket_dir else self.host,
            port=None if socket_dir else self.port,
            database=self.name,
            query={"host": self.host, "port": str(self.port)} if socket_dir else {},
        )
        return url.render_as_string(hide_password=False)


class AwsSettings(Concern):
    model_config = SettingsConfigDict(env_prefix="AWS_")

    region: str = "us-east-1"
    endpoint_url: str | None = None
    connect_timeout_s: float = Field(default=2.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    # Circuit breaker per service (app/aws.py): open after this many unreachable calls in
    # a row (each already retried), fail fast for AWS_BREAKER_RESET_S, then probe once.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_reset_s: float = Field(default=30.0, gt=0, le=3600)


class HttpSettings(Concern):
    request_timeout_s: float = Field(default=30.0, gt=0, le=900)
    ready_timeout_s: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    docs_enabled: bool = True
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False

    _split = field_validator("cors_origins", mode="before")(split_list)

    @model_validator(mode="after")
    def _credentials_need_origins(self) -> Self:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise SettingsError(
                "CORS_ORIGINS='*' cannot be combined with CORS_ALLOW_CREDENTIALS=true"
            )
        return self


class ObservabilitySettings(Concern):
    log_level: str = "INFO"
    # Prometheus /metrics (containers); Lambda reports the same figures as EMF instead.
    metrics_enabled: bool = True
    # X-Ray through Powertools Tracer (Lambda): its SDK import alone costs ~240 ms of cold start.
    tracing_enabled: bool = False

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class _TargetOnly(Concern):
    target: Target = Target.LOCAL


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    CONCERNS: ClassVar[dict[str, type[Concern]]] = {
        "db": DatabaseSettings,
        "auth": AuthSettings,
        "files": FilesSettings,
        "jobs": JobsSettings,
        "aws": AwsSettings,
        "http": HttpSettings,
        "observability": ObservabilitySettings,
    }

    target: Target
    db: DatabaseSettings
    auth: AuthSettings
    files: FilesSettings
    jobs: JobsSettings
    aws: AwsSettings
    http: HttpSettings
    observability: ObservabilitySettings

    def read(self, variable: str) -> Any:
        """The value an environment variable sets, by the variable's name."""
        concern, name = VARIABLES[variable.upper()]
        return getattr(self if concern is None else getattr(self, concern), name)


# Per target, per concern: only what differs from the field's default (a laptop's value).
_CLOUD: dict[str, dict[str, Any]] = {
    "db": {"sslmode": "require"},
    "http": {"docs_enabled": False},
    "jobs": {"diagnostic": False},
}
TARGET_DEFAULTS: dict[Target, dict[str, dict[str, Any]]] = {
    Target.LOCAL: {},
    # One connection per execution environment: RDS Proxy multiplexes, and every extra
    # connection is a TLS + auth handshake paid by some request. Routes never hold the
    # request's connection while a side transaction needs one (tests/reliability
    # /test_pool.py runs every route on a single connection).
    Target.LAMBDA: {
        **_CLOUD,
        "db": {
            **_CLOUD["db"],
            "pool_size": 1,
            "max_overflow": 0,
            "pool_timeout_s": 5.0,
            # Below RDS Proxy's default client idle timeout (1800 s).
            "pool_recycle_s": 1500,
        },
        # Below API Gateway's 30 s integration timeout.
        "http": {**_CLOUD["http"], "request_timeout_s": 25.0},
        "observability": {"metrics_enabled": False},
    },
    # The ALB appends the peer address to X-Forwarded-For.
    Target.FARGATE: {**_CLOUD, "http": {**_CLOUD["http"], "trusted_proxy_hops": 1}},
}
TARGET_DEFAULTS[Target.EC2] = TARGET_DEFAULTS[Target.FARGATE]

# {VARIABLE: (concern or None for the top level, field name)}
_MODELS: list[tuple[str | None, type[Concern]]] = [(None, _TargetOnly), *Settings.CONCERNS.items()]
VARIABLES: dict[str, tuple[str | None, str]] = {
    variable: (concern, name)
    for concern, model in _MODELS
    for name, variable in model.variables().items()
}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and ``overrides`` (keyed by variable name, any
    case; they win over the environment, None leaves a variable to it), reporting every
    invalid variable in one line."""
    given: dict[str | None, dict[str, Any]] = {}
    for variable, value in overrides.items():
        if value is None:
            continue  # left to the environment and the defaults
        if variable.upper() not in VARIABLES:
            raise TypeError(f"load_settings() got an unknown variable {variable!r}")
        concern, name = VARIABLES[variable.upper()]
        given.setdefault(concern, {})[name] = value
    environment = {name.upper() for name in os.environ}
    problems: list[str] = []
    where = _build(_TargetOnly, {}, given.get(None, {}), environment, problems)
    if where is None:
        raise SettingsError(f"invalid settings: {'; '.join(problems)}")
    concerns = {
        name: _build(
            model,
            TARGET_DEFAULTS[where.target].get(name, {}),
            given.get(name, {}),
            environment,
            problems,
        )
        for name, model in Settings.CONCERNS.items()
    }
    if problems:
        raise SettingsError(f"invalid settings: {'; '.join(problems)}")
    return Settings(target=where.target, **concerns)


C = TypeVar("C", bound=Concern)


def _build(
    model: type[C],
    target_defaults: Mapping[str, Any],
    given: Mapping[str, Any],
    environment: set[str],
    problems: list[str],
) -> C | None:
    variables = model.variables()
    # A target's default stands in for the field's own, never for a variable that is set.
    defaults = {k: v for k, v in target_defaults.items() if variables[k] not in environment}
    try:
        return model(**{**defaults, **given})
    except SettingsError as exc:
        problems.append(str(exc))
    except ValidationError as exc:
        for error in exc.errors():
            # An alias (a field read from the environment) is the variable's own name.
            where = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{variables.get(where, where.upper())}: {error['msg']}")
    return None
