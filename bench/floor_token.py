"""The floors' bearer check: PyJWT with the app's algorithm, required claims and issuer.

Shared by both same-stack floors (``floor_read``, ``floor_lambda``, which ships it in its
bundle) so that they verify a token exactly alike. Reads ``JWT_SIGNING_KEYS`` (JSON
``{kid: key}``) and ``JWT_ISSUER``.
"""

from __future__ import annotations

import json
import os
import uuid

import jwt
from fastapi import HTTPException

KEYS: dict[str, str] = json.loads(os.environ["JWT_SIGNING_KEYS"])
ISSUER = os.environ.get("JWT_ISSUER", "trident")


def bearer_subject(authorization: str) -> uuid.UUID:
    """The user id a valid ``Authorization: Bearer`` token names; else a 401."""
    scheme, _, token = authorization.partition(" ")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        if scheme.lower() != "bearer" or kid not in KEYS:
            raise jwt.InvalidTokenError("bad header")
        claims = jwt.decode(
            token,
            KEYS[kid],
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "iss"]},
        )
        return uuid.UUID(claims["sub"])
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise HTTPException(401, "invalid token") from exc
