"""What a process holds for its whole life, whatever its entry point (a container's app or
worker, a Lambda execution environment, a CLI): the settings, the database and the AWS clients.

The one place an engine is made. Both come on first use: a Lambda environment that only
serves /health never imports SQLAlchemy or boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.aws import AwsClients

if TYPE_CHECKING:
    from app.config import Settings
    from app.db import Database


class Resources:
    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        """``db``: one made elsewhere (the tests' rolled-back sessions), never closed here."""
        self.settings = settings
        self.aws = AwsClients(settings)
        self._db = db
        self._owns_db = db is None

    @property
    def db(self) -> Database:
        """The engine and its session factories, made on first use."""
        if self._db is None:
            from app.db import Database

            self._db = Database.from_settings(self.settings)
        return self._db

    @property
    def has_db(self) -> bool:
        return self._db is not None

    async def disconnect(self) -> None:
        """Close every pooled connection; the engine connects again when next used."""
        if self._db is not None:
            await self._db.engine.dispose()

    async def close(self) -> None:
        """Close a database made here (shutdown); the next use makes a new one."""
        if self._db is not None and self._owns_db:
            db, self._db = self._db, None
            await db.dispose()
