"""Importing this module registers every job kind (one import line per kind module)."""

from app.jobs import diagnostic  # noqa: F401
