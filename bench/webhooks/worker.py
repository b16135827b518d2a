"""`python -m bench.webhooks.worker [run_worker options]`: `manage.py run_worker`, with two clocks shortened.

A task worker SIGKILLed mid-task leaves its task RUNNING for ever (django_tasks_db): the delivery it
was attempting keeps its lease (events.deliveries.LEASE, 60 s) and then waits for the sweep, which
takes only deliveries overdue by SWEEP_GRACE (5 min), and the events of a killed dispatch wait as
long. So in production a kill delays those deliveries by about six minutes; the test cannot wait that
long, so this worker runs with BENCH_WEBHOOK_LEASE and BENCH_WEBHOOK_SWEEP_GRACE seconds instead.
Everything else is the production code path: the same command, tasks, sweep and schedule.
"""

import os
import sys
from datetime import timedelta

from ..system import REPO


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import execute_from_command_line

    from events import deliveries

    if os.environ.get("BENCH_WEBHOOK_LEASE"):
        deliveries.LEASE = timedelta(seconds=float(os.environ["BENCH_WEBHOOK_LEASE"]))
    if os.environ.get("BENCH_WEBHOOK_SWEEP_GRACE"):
        deliveries.SWEEP_GRACE = timedelta(seconds=float(os.environ["BENCH_WEBHOOK_SWEEP_GRACE"]))
    execute_from_command_line(["manage.py", "run_worker", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
