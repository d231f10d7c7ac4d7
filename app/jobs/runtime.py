"""What a worker process (or Lambda execution environment) holds while it runs jobs."""

from __future__ import annotations

from dataclasses import dataclass

from app.aws import AwsClients
from app.config import Settings
from app.db import Database


@dataclass
class JobRuntime:
    settings: Settings
    db: Database
    aws: AwsClients

    @classmethod
    def from_settings(cls, settings: Settings) -> JobRuntime:
        return cls(settings=settings, db=Database.from_settings(settings), aws=AwsClients(settings))

    async def close(self) -> None:
        await self.db.dispose()
