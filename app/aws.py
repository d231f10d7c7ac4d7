"""boto3 clients, created on first use (``import boto3`` alone costs ~170 ms of cold start).

boto3 is blocking: async code calls it through ``call`` (a worker thread), never directly.

Failure handling, in two layers:

* retries: botocore's ``standard`` mode retries connection errors, timeouts, throttling and
  transient 5xx with exponential backoff and full jitter (AWS_MAX_ATTEMPTS attempts per call);
* a circuit breaker per service (S3, SQS) on each ``AwsClients``: after AWS_BREAKER_FAILURES
  calls in a row fail to reach the service (connection refused or reset, timeouts, each already
  retried), calls fail fast for AWS_BREAKER_RESET_S with a 503 ``aws-unavailable`` problem and
  ``Retry-After``; then a single probe call goes through, and its success closes the breaker.

The breaker is a botocore event hook on the clients, so it guards every network call they make,
whoever makes it, and never the local ones (presigning). It is ours rather than a library's:
pybreaker holds one lock for the whole guarded call (a 20 s SQS long poll would block every
other call) and the ``circuitbreaker`` package lets every caller through when half-open.

Every entry point names the IAM duty it performs (``performs``), as declared in
``cdk/iam_manifest.py``: an AccessDenied is logged with that duty, and the test suite checks
each call against the manifest.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from app.problems import AppError

if TYPE_CHECKING:
    from app.config import Settings

T = TypeVar("T")
P = ParamSpec("P")

logger = logging.getLogger("app.aws")


class Duty(StrEnum):
    """The manifest's duties (cdk/iam_manifest.py; app never imports cdk, a test keeps the two
    equal)."""

    SERVE_HTTP = "serve-http"
    RUN_JOBS = "run-jobs"
    RECEIVE_JOBS = "receive-jobs"
    HOUSEKEEPING = "housekeeping"
    OPERATE = "operate"


# The duty (cdk/iam_manifest.py) of the code path making AWS calls; tasks inherit it, and so
# do the threads ``call`` runs boto3 in.
current_duty: ContextVar[Duty | None] = ContextVar("aws_duty", default=None)


def performs(
    duty: Duty,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Mark an entry point: AWS calls made under it need ``duty``'s permissions."""

    def decorate(
        function: Callable[P, Coroutine[Any, Any, T]],
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            token = current_duty.set(duty)
            try:
                return await function(*args, **kwargs)
            finally:
                current_duty.reset(token)

        return wrapper

    return decorate


def _access_denied(exc: BaseException) -> str | None:
    """The denied operation's name, if ``exc`` is an AccessDenied answer (a HEAD has no body:
    S3's code is then the bare status, "403")."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    denied = "AccessDenied" in code or code in ("403", "Forbidden") or status == 403
    return str(getattr(exc, "operation_name", "?")) if denied else None


# SQS long polls for up to 20 s; the read timeout of the polling client must outlast that.
LONG_POLL_S = 20


def is_outage(exc: BaseException) -> bool:
    """The service could not be reached or did not answer in time (an answer, even an error
    status, is not an outage)."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    return isinstance(exc, ConnectionError | HTTPClientError)


class AwsUnavailable(AppError):
    """503 problem: an AWS service is unreachable, or its breaker is open."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(
            503, "aws-unavailable", detail, headers={"Retry-After": str(max(1, retry_after_s))}
        )


BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Consecutive-failure breaker, safe to share between the threads boto3 calls run in.

    The lock guards only the bookkeeping, never the call itself.
    """

    def __init__(
        self,
        service: str,
        *,
        failures: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.failure_threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        # When the half-open probe started; a probe that never reports back (it cannot
        # happen with botocore, but a stuck slot would close the service for good) is
        # replaced after reset_s.
        self._probe_since: float | None = None

    @property
    def state(self) -> BreakerState:
        return self._state

    def before_call(self) -> None:
        """Let the call through, or raise ``AwsUnavailable`` without touching the network."""
        with self._lock:
            if self._state == "closed":
                return
            now = self._clock()
            if self._state == "open":
                remaining = self._opened_at + self.reset_s - now
                if remaining > 0:
                    raise AwsUnavailable(
                        f"{self.service} is unavailable; calls resume in {math.ceil(remaining)} s",
                        retry_after_s=math.ceil(remaining),
                    )
                self._state = "half-open"
            if self._probe_since is not None and now - self._probe_since < self.reset_s:
                raise AwsUnavailable(
                    f"{self.service} is unavailable; checking whether it is back",
                    retry_after_s=1,
                )
            self._probe_since = now

    def record_success(self) -> None:
        with self._lock:
            if self._state != "closed":
                logger.warning("AWS service reachable again", extra={"service": self.service})
            self._state, self._failures, self._probe_since = "closed", 0, None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probe_since = None
            if self._state == "half-open" or (
                self._state == "closed" and self._failures >= self.failure_threshold
            ):
                if self._state == "closed":
                    logger.warning(
                        "AWS service unreachable: failing fast",
                        extra={"service": self.service, "failures": self._failures},
                    )
                self._state, self._opened_at = "open", self._clock()

    def record_neutral(self) -> None:
        """Neither reached nor unreachable (a signing error, a 5xx answer): only frees the
        probe slot."""
        with self._lock:
            self._probe_since = None

    # botocore event handlers (they receive keyword arguments only).
    def _on_before_call(self, **_: Any) -> None:
        self.before_call()

    def _on_after_call(self, *, http_response: Any, **_: Any) -> None:
        if http_response is not None and http_response.status_code >= 500:
            self.record_neutral()
        else:
            self.record_success()

    def _on_after_call_error(self, *, exception: BaseException, **_: Any) -> None:
        if is_outage(exception):
            self.record_failure()
        else:
            self.record_neutral()

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._on_before_call, unique_id=f"breaker-{id(self)}-b")
        events.register("after-call", self._on_after_call, unique_id=f"breaker-{id(self)}-a")
        events.register(
            "after-call-error", self._on_after_call_error, unique_id=f"breaker-{id(self)}-e"
        )


class AwsClients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, service: str) -> CircuitBreaker:
        if service not in self.breakers:
            self.breakers[service] = CircuitBreaker(
                service.upper(),
                failures=self.settings.aws.breaker_failures,
                reset_s=self.settings.aws.breaker_reset_s,
            )
        return self.breakers[service]

    def _client(self, service: str, *, read_timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.settings.aws.region,
            connect_timeout=self.settings.aws.connect_timeout_s,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": self.settings.aws.max_attempts},
            signature_version="s3v4" if service == "s3" else None,
            # Real S3: the regional virtual-hosted endpoint (https://<bucket>.s3.<region>...),
            # the origin the upload page's CSP allows, with no redirect for a new bucket.
            s3=(
                {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}
                if service == "s3" and not self.settings.aws.endpoint_url
                else None
            ),
            max_pool_connections=32,
        )
        session = boto3.session.Session()
        client = session.client(
            service, endpoint_url=self.settings.aws.endpoint_url or None, config=config
        )
        self.breaker(service).attach(client)
        return client

    @cached_property
    def s3(self) -> Any:
        return self._client("s3", read_timeout=self.settings.aws.read_timeout_s)

    @cached_property
    def sqs(self) -> Any:
        # Short read timeout: a hung SendMessage must not outlast the request that sent it.
        return self._client("sqs", read_timeout=self.settings.aws.read_timeout_s)

    @cached_property
    def sqs_poll(self) -> Any:
        """For ReceiveMessage only (long polls); shares the SQS breaker."""
        return self._client("sqs", read_timeout=LONG_POLL_S + self.settings.aws.read_timeout_s)


async def call(function: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one blocking boto3 call off the event loop; an unreachable service becomes a 503
    ``AwsUnavailable`` problem (callers that must not fail, like job submission, catch it)."""
    try:
        return await run_in_threadpool(function, **kwargs)
    except AppError:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise AwsUnavailable(
                "an AWS service did not answer; retry shortly", retry_after_s=1
            ) from exc
        denied = _access_denied(exc)
        if denied is not None:
            # A deploy whose role misses a permission: say which duty needs what.
            logger.error(
                "AWS denied the call: the role lacks a permission of its duty "
                "(cdk/iam_manifest.py)",
                extra={"operation": denied, "duty": current_duty.get()},
            )
        raise
