"""Job kinds: a name, an input schema, a handler, and who may submit it.

A new kind is one decorated function::

    class ResizeInput(BaseModel):
        file_id: uuid.UUID

    @job_kind("resize", input_model=ResizeInput)
    async def resize(ctx: JobContext, data: ResizeInput) -> dict[str, Any]:
        ...

and an import of its module in ``app.jobs.kinds``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from app.aws import AwsClients
    from app.config import Settings
    from app.db import Database

InputT = TypeVar("InputT", bound=BaseModel)
JobResult = Mapping[str, Any] | BaseModel | None


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job is marked ``failed`` at once."""


@dataclass(frozen=True)
class JobContext:
    job_id: uuid.UUID
    user_id: uuid.UUID | None
    attempt: int
    db: Database
    settings: Settings
    aws: AwsClients


Handler = Callable[[JobContext, InputT], Awaitable[JobResult]]


@dataclass(frozen=True)
class JobKind(Generic[InputT]):
    name: str
    input_model: type[InputT]
    handler: Handler[InputT]
    user_submittable: bool = True
    diagnostic: bool = False

    async def run(self, ctx: JobContext, raw_input: Mapping[str, Any]) -> dict[str, Any] | None:
        data = self.input_model.model_validate(raw_input)
        result = await self.handler(ctx, data)
        if result is None:
            return None
        if isinstance(result, BaseModel):
            dumped: dict[str, Any] = result.model_dump(mode="json")
            return dumped
        return dict(result)


@dataclass
class Registry:
    kinds: dict[str, JobKind[Any]] = field(default_factory=dict)

    def register(self, kind: JobKind[Any]) -> None:
        if kind.name in self.kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self.kinds[kind.name] = kind

    def get(self, name: str, settings: Settings) -> JobKind[Any] | None:
        """The kind if it exists in this deployment (diagnostics only where enabled)."""
        kind = self.kinds.get(name)
        if kind is None or (kind.diagnostic and not settings.diagnostic_jobs):
            return None
        return kind

    def submittable(self, settings: Settings) -> list[str]:
        return sorted(
            name
            for name, kind in self.kinds.items()
            if kind.user_submittable and self.get(name, settings) is not None
        )


registry = Registry()


def job_kind(
    name: str,
    *,
    input_model: type[InputT],
    user_submittable: bool = True,
    diagnostic: bool = False,
) -> Callable[[Handler[InputT]], Handler[InputT]]:
    def register(handler: Handler[InputT]) -> Handler[InputT]:
        registry.register(
            JobKind(
                name=name,
                input_model=input_model,
                handler=handler,
                user_submittable=user_submittable,
                diagnostic=diagnostic,
            )
        )
        return handler

    return register
