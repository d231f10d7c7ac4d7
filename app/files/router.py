from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from app.caching import CONDITIONAL_GET_RESPONSES, conditional_json
from app.deps import AppSettings, Aws, Caller, CurrentUser, DatabaseDep, Session
from app.errors import problem_responses
from app.files import service
from app.files.schemas import Download, FileCreate, FileOut, FileUpload
from app.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/v1/files", tags=["files"])

LOCATION_HEADER = {"description": "The file's own URL.", "schema": {"type": "string"}}


@router.post(
    "",
    status_code=201,
    response_model=FileUpload,
    name="create",
    summary="Start an upload: a presigned POST straight to S3",
    responses={201: {"headers": {"Location": LOCATION_HEADER}}, **problem_responses(401, 422, 429)},
)
async def create_file(
    body: FileCreate,
    user: CurrentUser,
    session: Session,
    db: DatabaseDep,
    aws: Aws,
    settings: AppSettings,
    response: Response,
) -> FileUpload:
    upload = await service.create_upload(
        session=session, db=db, aws=aws, settings=settings, user_id=user.id, body=body
    )
    response.headers["Location"] = f"/v1/files/{upload.file_id}"
    return upload


@router.get(
    "",
    response_model=Page[FileOut],
    name="list",
    summary="Your files, newest first",
    responses=problem_responses(401, 422),
)
async def list_files(
    user: CurrentUser, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> Page[FileOut]:
    files, next_cursor = await service.list_files(
        session=session, user_id=user.id, limit=limit, cursor=cursor
    )
    return Page[FileOut](items=[FileOut.of(record) for record in files], next_cursor=next_cursor)


@router.get(
    "/{file_id}",
    response_model=FileOut,
    name="get",
    summary="One file and its status",
    responses={**CONDITIONAL_GET_RESPONSES, **problem_responses(401, 404, 422)},
)
async def get_file(
    file_id: uuid.UUID, caller: Caller, session: Session, request: Request
) -> Response:
    record = await service.get_file(session=session, user_id=caller.user_id, file_id=file_id)
    return conditional_json(request, FileOut.of(record))


@router.get(
    "/{file_id}/download",
    response_model=Download,
    name="download",
    summary="A short-lived download link (ready files only)",
    responses=problem_responses(401, 404, 409, 422),
)
async def download_file(
    file_id: uuid.UUID, caller: Caller, session: Session, aws: Aws, settings: AppSettings
) -> Download:
    return await service.download(
        session=session, aws=aws, settings=settings, user_id=caller.user_id, file_id=file_id
    )


@router.post(
    "/{file_id}/complete",
    response_model=FileOut,
    name="complete",
    summary="Say the upload finished: verify it now (idempotent)",
    responses=problem_responses(401, 404, 409, 422),
)
async def complete_file(
    file_id: uuid.UUID,
    user: CurrentUser,
    session: Session,
    db: DatabaseDep,
    aws: Aws,
    settings: AppSettings,
) -> FileOut:
    record = await service.complete(
        session=session, db=db, aws=aws, settings=settings, user_id=user.id, file_id=file_id
    )
    return FileOut.of(record)


@router.delete(
    "/{file_id}",
    status_code=204,
    name="delete",
    summary="Delete a file and its objects (repeating it is harmless)",
    responses=problem_responses(401, 422),
)
async def delete_file(
    file_id: uuid.UUID, user: CurrentUser, session: Session, db: DatabaseDep, aws: Aws
) -> Response:
    await service.delete_file(session=session, db=db, aws=aws, user_id=user.id, file_id=file_id)
    return Response(status_code=204)
