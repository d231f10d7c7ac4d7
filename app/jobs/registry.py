"""What domains plug into the jobs core, each registered by a decorator.

* **Job kinds**: a name, an input schema, a handler, and who may submit it::

      class ResizeInput(BaseModel):
          file_id: uuid.UUID

      @job_kind("resize", input_model=ResizeInput)
      async def resize(ctx: JobContext, data: ResizeInput) -> dict[str, Any]:
          ...

* **Message sources**: producers other than ours whose messages arrive on the jobs queue (S3
  event notifications), each turned into the jobs it implies;
* **Periodic tasks**: housekeeping every worker runs when due (the container worker's loop,
  the Lambda housekeeping schedule).

The jobs core imports no domain: ``app.domains.compose()`` imports each domain's module, and
every entry point calls it before it runs a job.
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
    from app.jobs.runtime import JobRuntime

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


@dataclass(frozen=True)
class MessageSource:
    """``accepts`` recognises the source's payloads (decoded JSON); ``jobs_for`` returns the
    jobs one implies, created the first time and found again on a repeated delivery. A
    payload no retry can use raises ``PoisonMessage``."""

    name: str
    accepts: Callable[[Mapping[str, Any]], bool]
    jobs_for: Callable[[JobRuntime, Mapping[str, Any]], Awaitable[list[uuid.UUID]]]


@dataclass(frozen=True)
class PeriodicTask:
    """Run at most once per ``interval_s(settings)`` by each worker; the report it returns
    (counts) is logged and returned by the Lambda housekeeping."""

    name: str
    interval_s: Callable[[Settings], float]
    run: Callable[[JobRuntime], Awaitable[Mapping[str, int]]]


@dataclass
class Registry:
    kinds: dict[str, JobKind[Any]] = field(default_factory=dict)
    sources: dict[str, MessageSource] = field(default_factory=dict)
    periodic: dict[str, PeriodicTask] = field(default_factory=dict)
    # Set by app.domains.compose(): a worker must never judge a kind unknown because its
    # domain was not imported (the job would be marked dead).
    composed: bool = False

    def register(self, kind: JobKind[Any]) -> None:
        _add(self.kinds, kind.name, kind, "job kind")

    def add_source(self, source: MessageSource) -> None:
        _add(self.sources, source.name, source, "message source")

    def add_periodic(self, task: PeriodicTask) -> None:
        _add(self.periodic, task.name, task, "periodic task")

    def source_for(self, payload: Mapping[str, Any]) -> MessageSource | None:
        return next((s for s in self.sources.values() if s.accepts(payload)), None)

    def get(self, name: str, settings: Settings) -> JobKind[Any] | None:
        """The kind if it exists in this deployment (diagnostics only where enabled)."""
        kind = self.kinds.get(name)
        if kind is None or (kind.diagnostic and not settings.jobs.diagnostic):
            return None
        return kind

    def submittable(self, settings: Settings) -> list[str]:
        return sorted(
            name
            for name, kind in self.kinds.items()
            if kind.user_submittable and self.get(name, settings) is not None
        )


def _add(table: dict[str, Any], name: str, item: Any, what: str) -> None:
    if name in table:
        raise ValueError(f"{what} {name!r} is registered twice")
    table[name] = item


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


SourceJobs = Callable[["JobRuntime", Mapping[str, Any]], Awaitable[list[uuid.UUID]]]


def message_source(
    name: str, *, accepts: Callable[[Mapping[str, Any]], bool]
) -> Callable[[SourceJobs], SourceJobs]:
    def register(jobs_for: SourceJobs) -> SourceJobs:
        registry.add_source(MessageSource(name=name, accepts=accepts, jobs_for=jobs_for))
        return jobs_for

    return register


TaskRun = Callable[["JobRuntime"], Awaitable[Mapping[str, int]]]


def periodic_task(
    name: str, *, interval_s: Callable[[Settings], float]
) -> Callable[[TaskRun], TaskRun]:
    def register(run: TaskRun) -> TaskRun:
        registry.add_periodic(PeriodicTask(name=name, interval_s=interval_s, run=run))
        return run

    return register
