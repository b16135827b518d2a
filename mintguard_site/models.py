"""The site's own rows: when each job of the schedule last ran (mintguard_site.schedule)."""

from datetime import UTC, datetime

from django.db import models

# A job that has no row yet never ran: it is due at once.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduledJob(models.Model):
    """One periodic job and when it was last claimed; claims are atomic UPDATEs of this row.

    The tick chain has a row too (`schedule_tick`): its lock serializes the enqueueing of ticks,
    and its time is when the last tick was enqueued.
    """

    name = models.CharField(max_length=64, primary_key=True)
    last_run_at = models.DateTimeField(default=NEVER)

    def __str__(self) -> str:
        return f"{self.name} (last run {self.last_run_at:%Y-%m-%d %H:%M:%S})"
