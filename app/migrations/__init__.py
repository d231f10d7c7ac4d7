"""Alembic, configured in code so no alembic.ini has to sit at the top of the repo.

``python -m app.migrations upgrade head`` (what ``make migrate`` runs) takes the usual
Alembic sub-commands; ``DATABASE_URL`` names the database.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    # Passed as an attribute, not a main option: ConfigParser would choke on '%' in passwords.
    config.attributes["database_url"] = database_url
    return config


def upgrade_head(database_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
