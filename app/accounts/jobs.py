"""What accounts give the jobs core: the periodic task that finishes interrupted deletions."""

from __future__ import annotations

from collections.abc import Mapping

from app.jobs.registry import periodic_task
from app.jobs.runtime import JobRuntime


# As often as the files cleanup: both finish what a crash left half done.
@periodic_task("accounts-cleanup", interval_s=lambda settings: settings.files.cleanup_interval_s)
async def accounts_cleanup(runtime: JobRuntime) -> Mapping[str, int]:
    # Imported when first due: the Lambda SQS consumer's cold start need not pay for it.
    from app.accounts.service import finish_interrupted

    return await finish_interrupted(db=runtime.db, aws=runtime.aws)
