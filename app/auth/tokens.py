"""Access tokens (JWT, HS256, key ring by ``kid``) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from app.config import Settings
from app.errors import AppError

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_id: str
    expires_at: int


class InvalidToken(AppError):
    def __init__(self, detail: str = "invalid or expired access token") -> None:
        super().__init__(
            401,
            "invalid-token",
            detail,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class TokenIssuer:
    def __init__(self, settings: Settings) -> None:
        self.active_kid, self.keys = settings.auth.key_ring()
        self.issuer = settings.auth.jwt_issuer
        self.access_ttl_s = settings.auth.access_token_ttl_s

    def issue_access(self, user_id: uuid.UUID) -> str:
        import jwt  # on first use: /health-only cold starts never load PyJWT

        issued = int(time.time())
        claims = {
            "sub": str(user_id),
            "iat": issued,
            "exp": issued + self.access_ttl_s,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
        }
        return jwt.encode(
            claims,
            self.keys[self.active_kid],
            algorithm=ALGORITHM,
            headers={"kid": self.active_kid},
        )

    def verify_access(self, token: str) -> AccessClaims:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("malformed access token") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or kid not in self.keys:
            raise InvalidToken()
        try:
            claims = jwt.decode(
                token,
                self.keys[kid],
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]), token_id=claims["jti"], expires_at=claims["exp"]
            )
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise InvalidToken() from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # The token is 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()
