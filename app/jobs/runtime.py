"""What a worker process (or Lambda execution environment) holds while it runs jobs."""

from __future__ import annotations

from dataclasses import dataclass

from app.aws import AwsClients
from app.config import Settings
from app.db import Database
from app.resources import Resources


@dataclass
class JobRuntime:
    settings: Settings
    db: Database
    aws: AwsClients

    @classmethod
    def from_settings(cls, settings: Settings) -> JobRuntime:
        resources = Resources(settings)  # where every entry point gets its engine and clients
        return cls(settings=settings, db=resources.db, aws=resources.aws)

    async def close(self) -> None:
        await self.db.dispose()
