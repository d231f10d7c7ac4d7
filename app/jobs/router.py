from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.caching import CONDITIONAL_GET_RESPONSES, conditional_json
from app.deps import AppSettings, Aws, Caller, CurrentUser, Session
from app.errors import problem_responses
from app.jobs import service
from app.jobs.schemas import JobCreate, JobOut
from app.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

LOCATION_HEADER = {"description": "Where to poll the job.", "schema": {"type": "string"}}


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    name="create",
    summary="Submit a job (idempotent with `idempotency_key`)",
    responses={
        200: {
            "model": JobOut,
            "description": "A job with this idempotency key already exists",
            "headers": {"Location": LOCATION_HEADER},
        },
        202: {"headers": {"Location": LOCATION_HEADER}},
        **problem_responses(401, 409, 422),
    },
)
async def create_job(
    body: JobCreate,
    user: CurrentUser,
    session: Session,
    aws: Aws,
    settings: AppSettings,
    response: Response,
) -> JobOut:
    job_input = service.validate_submission(
        settings=settings, kind_name=body.kind, raw_input=body.input
    )
    job, created = await service.create_job(
        session=session,
        user_id=user.id,
        kind=body.kind,
        job_input=job_input,
        idempotency_key=body.idempotency_key,
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if created:
        # Committed before SendMessage: a worker must find the row the message names.
        await session.commit()
        await service.send(session=session, aws=aws, settings=settings, job=job)
    else:
        response.status_code = 200
    return JobOut.of(job)


@router.get(
    "",
    response_model=Page[JobOut],
    name="list",
    summary="Your jobs, newest first",
    responses=problem_responses(401, 422),
)
async def list_jobs(
    user: CurrentUser, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> Page[JobOut]:
    jobs, next_cursor = await service.list_jobs(
        session=session, user_id=user.id, limit=limit, cursor=cursor
    )
    return Page[JobOut](items=[JobOut.of(job) for job in jobs], next_cursor=next_cursor)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    name="get",
    summary="One job's status, result or error",
    responses={**CONDITIONAL_GET_RESPONSES, **problem_responses(401, 404, 422)},
)
async def get_job(
    job_id: uuid.UUID, caller: Caller, session: Session, request: Request
) -> Response:
    job = await service.get_job(session=session, user_id=caller.user_id, job_id=job_id)
    return conditional_json(request, JobOut.of(job))


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobOut,
    name="retry",
    summary="Queue a failed or dead job again",
    responses=problem_responses(401, 404, 409, 422),
)
async def retry_job(
    job_id: uuid.UUID,
    user: CurrentUser,
    session: Session,
    aws: Aws,
    settings: AppSettings,
) -> JobOut:
    job = await service.requeue_for_retry(session=session, user_id=user.id, job_id=job_id)
    await session.commit()
    await service.send(session=session, aws=aws, settings=settings, job=job)
    return JobOut.of(job)
