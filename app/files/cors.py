"""Bucket CORS for the upload page: one definition for the moto bucket and the CDK bucket.

Plain data, no imports from the rest of the app: ``cdk`` maps each rule onto
``aws_s3.CorsRule`` (same field names), ``app.local`` sends ``as_s3_api`` to PutBucketCors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CorsRule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    exposed_headers: tuple[str, ...] = ()
    max_age: int | None = None

    def as_s3_api(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "AllowedOrigins": list(self.allowed_origins),
            "AllowedMethods": list(self.allowed_methods),
        }
        if self.allowed_headers:
            rule["AllowedHeaders"] = list(self.allowed_headers)
        if self.exposed_headers:
            rule["ExposeHeaders"] = list(self.exposed_headers)
        if self.max_age is not None:
            rule["MaxAgeSeconds"] = self.max_age
        return rule


def bucket_cors_rules(origins: Sequence[str]) -> list[CorsRule]:
    """The page POSTs uploads (XHR with progress events, so preflighted) and GETs downloads."""
    if not origins:
        return []
    return [
        CorsRule(
            allowed_origins=tuple(origins),
            allowed_methods=("POST", "GET", "HEAD"),
            # A preflight names no header for a multipart POST; "*" keeps browsers' quirks out.
            allowed_headers=("*",),
            exposed_headers=("ETag", "Location"),
            max_age=3000,
        )
    ]


def s3_cors_configuration(origins: Sequence[str]) -> dict[str, Any]:
    """PutBucketCors' ``CORSConfiguration`` for these origins."""
    return {"CORSRules": [rule.as_s3_api() for rule in bucket_cors_rules(origins)]}
