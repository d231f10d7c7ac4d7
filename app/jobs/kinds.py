"""Importing this module registers every job kind (one import line per kind module)."""

from app.files import jobs as files_jobs  # noqa: F401
from app.jobs import diagnostic  # noqa: F401
