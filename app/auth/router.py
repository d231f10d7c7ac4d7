from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.schemas import RefreshIn, RegisterIn, TokenPair, UserOut
from app.caching import CONDITIONAL_GET_RESPONSES, conditional_json
from app.deps import AppSettings, CurrentUser, PasswordGateDep, Session, TokenIssuerDep
from app.errors import problem_responses

auth_router = APIRouter(prefix="/v1/auth", tags=["auth"])
users_router = APIRouter(prefix="/v1/users", tags=["users"])


@auth_router.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    name="register",
    summary="Create an account",
    responses=problem_responses(409, 422, 429),
)
async def register(body: RegisterIn, session: Session, gate: PasswordGateDep) -> UserOut:
    user = await service.register(
        session=session, gate=gate, email=body.email, password=body.password
    )
    return UserOut.model_validate(user)


@auth_router.post(
    "/token",
    response_model=TokenPair,
    name="token",
    summary="Log in with email and password (OAuth2 password form)",
    responses=problem_responses(401, 422, 429),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "example": {
                        "grant_type": "password",
                        "username": "ada@example.com",
                        "password": "correct horse battery",
                    }
                }
            }
        }
    },
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: Session,
    gate: PasswordGateDep,
    issuer: TokenIssuerDep,
    settings: AppSettings,
    response: Response,
) -> TokenPair:
    user = await service.authenticate(
        session=session, gate=gate, email=form.username, password=form.password
    )
    response.headers["Cache-Control"] = "no-store"
    return await service.issue_tokens(
        session=session, issuer=issuer, settings=settings, user_id=user.id
    )


@auth_router.post(
    "/refresh",
    response_model=TokenPair,
    name="refresh",
    summary="Exchange a refresh token for a new pair (the old one stops working)",
    responses=problem_responses(401, 422),
)
async def refresh(
    body: RefreshIn,
    session: Session,
    issuer: TokenIssuerDep,
    settings: AppSettings,
    response: Response,
) -> TokenPair:
    response.headers["Cache-Control"] = "no-store"
    return await service.rotate_refresh_token(
        session=session, issuer=issuer, settings=settings, refresh_token=body.refresh_token
    )


@auth_router.post(
    "/logout",
    status_code=204,
    name="logout",
    summary="Revoke a refresh token and every token rotated from the same login",
    responses=problem_responses(422),
)
async def logout(body: RefreshIn, session: Session) -> Response:
    await service.logout(session=session, refresh_token=body.refresh_token)
    return Response(status_code=204)


@users_router.get(
    "/me",
    response_model=UserOut,
    name="me",
    summary="The current user",
    responses={**CONDITIONAL_GET_RESPONSES, **problem_responses(401)},
)
async def me(user: CurrentUser, request: Request) -> Response:
    return conditional_json(request, UserOut.model_validate(user))
