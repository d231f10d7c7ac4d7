"""Alembic, configured in code so no alembic.ini has to sit at the top of the repo.

``python -m app.migrations upgrade head`` (what ``make migrate`` runs) takes the usual
Alembic sub-commands; ``DATABASE_URL`` names the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(
    database_url: str,
    *,
    connect_args: dict[str, Any] | None = None,
    role_statement_timeout_ms: int | None = None,
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    # Passed as an attribute, not a main option: ConfigParser would choke on '%' in passwords.
    config.attributes["database_url"] = database_url
    # TLS mode, an IAM token callable, ...: see app.db.connect_args.
    config.attributes["connect_args"] = connect_args or {}
    # Set as the connecting role's default in this database after upgrading (deploys do).
    config.attributes["role_statement_timeout_ms"] = role_statement_timeout_ms
    return config


def upgrade_head(
    database_url: str,
    *,
    connect_args: dict[str, Any] | None = None,
    role_statement_timeout_ms: int | None = None,
) -> None:
    from alembic import command

    config = alembic_config(
        database_url,
        connect_args=connect_args,
        role_statement_timeout_ms=role_statement_timeout_ms,
    )
    command.upgrade(config, "head")
