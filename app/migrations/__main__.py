"""Alembic's command line with our configuration: ``python -m app.migrations upgrade head``."""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from app.config import load_settings
from app.migrations import alembic_config


def main(argv: list[str]) -> None:
    cli = CommandLine(prog="python -m app.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(load_settings().db.require_url()), options)


if __name__ == "__main__":
    main(sys.argv[1:])
