"""The composition root: each domain's job kinds, message sources and periodic tasks.

The jobs core (``app/jobs``) imports no domain. Every entry point that runs or accepts jobs
calls ``compose()`` first; a new domain is one import line here.
"""

from __future__ import annotations

from app.jobs.registry import Registry, registry


def compose() -> Registry:
    """Register every domain's jobs with the core (once per process)."""
    if not registry.composed:
        from app.accounts import jobs as accounts_jobs  # noqa: F401  (deletions' cleanup)
        from app.files import events, jobs  # noqa: F401  (S3 upload events; kinds, cleanup)
        from app.jobs import diagnostic  # noqa: F401  (DIAGNOSTIC_JOBS only)

        registry.composed = True
    return registry
