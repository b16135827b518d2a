"""The webhook delivery test: every committed event reaches a real receiver, signed, despite faults.

    .venv/bin/python -m bench.webhooks [--ops 2000] [--clients 4] [--workers 3] [--kills 5] [--json report.json]

It starts a private PostgreSQL and gunicorn (production settings, reusing bench.bank's cluster
helpers) with MINTGUARD_WEBHOOK_ALLOW_INSECURE=true, a 1 s schedule tick, a short events sweep and a
short MINTGUARD_WEBHOOK_RETRY_BASE; registers a webhook endpoint (`["*"]`) pointing at a receiver on
loopback (`receiver`: http.server, every delivery's Standard Webhooks signature verified with the
endpoint's secret, `webhook-id` recorded); runs task workers (`worker`: `manage.py run_worker`) and
SIGKILLs one of them several times, restarting it each time; drives money operations over HTTP
(deposits, withdrawals, transfers, some refused with 409, some invalid with 422) while the
receiver answers 500 for a window and then hangs past the 10 s delivery timeout for another. Then
it waits for the workers to catch up and checks that the receiver accepted every committed event,
nothing else, every signature valid, and that no delivery is left PENDING or FAILED.

Modules: `receiver`, `worker` (the task worker, with the sweep's grace and the lease shortened).
"""
