"""Each app's scheduled task runs its service: what the task did is in the rows, as the command's would be."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from ledger.models import Hold, HoldStatus, ReconciliationRun
from ledger.services import hold_create
from ledger.tasks import holds_expire_task
from mintguard_site.api.models import IdempotencyKey
from mintguard_site.tasks import idempotency_keys_purge_task, reconcile_task, task_results_prune_task
from payments.models import Order, Payment, PaymentStatus
from payments.tasks import authorizations_expire_task, pending_payments_expire_task

from ..ledger.factories import AccountFactory
from ..payments.helpers import authorized_order, pending_order_id

pytestmark = pytest.mark.django_db

AN_HOUR_AGO = timedelta(hours=1)


def test_holds_expire_task_expires_the_overdue_holds_only():
    source, destination = AccountFactory(balance=1_000), AccountFactory()
    overdue, current = (hold_create(source_id=source.id, destination_id=destination.id, amount=100, owner="client-a")
                        for _ in range(2))
    Hold.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert holds_expire_task.call() == 1

    assert Hold.objects.get(pk=overdue.pk).status == HoldStatus.EXPIRED
    assert Hold.objects.get(pk=current.pk).status == HoldStatus.HELD
    assert holds_expire_task.call() == 0


def test_authorizations_expire_task_expires_an_authorization_past_its_ttl(api, settings):
    settings.MINTGUARD_AUTHORIZATION_TTL = 3_600
    stale, fresh = authorized_order(api), authorized_order(api)
    Payment.objects.filter(order_id=stale["id"]).update(authorized_at=timezone.now() - AN_HOUR_AGO * 2)

    report = authorizations_expire_task.call()

    assert (report["checked"], report["expired"], report["errors"]) == (1, 1, 0)
    assert Payment.objects.get(order_id=stale["id"]).status == PaymentStatus.EXPIRED
    assert Order.objects.get(pk=stale["id"]).status == "CANCELED"
    assert Payment.objects.get(order_id=fresh["id"]).status == PaymentStatus.AUTHORIZED


def test_pending_payments_expire_task_settles_payments_pending_longer_than_the_setting(api, settings):
    settings.MINTGUARD_PENDING_PAYMENTS_EXPIRE_AFTER = 3_600
    stale, fresh = pending_order_id(api), pending_order_id(api)
    Payment.objects.filter(order_id=stale).update(created_at=timezone.now() - AN_HOUR_AGO * 2)

    report = pending_payments_expire_task.call()

    assert (report["checked"], report["failed"], report["errors"]) == (1, 1, 0)
    assert (Order.objects.get(pk=stale).status, Order.objects.get(pk=stale).failure_reason) == (
        "FAILED", "pending_expired")
    assert Order.objects.get(pk=fresh).status == "PENDING_PAYMENT"


def test_idempotency_keys_purge_task_deletes_the_keys_past_their_ttl():
    for key, expires_at in (("old", timezone.now() - AN_HOUR_AGO), ("new", timezone.now() + AN_HOUR_AGO)):
        IdempotencyKey.objects.create(owner="client-a", key=key, fingerprint="f", method="POST", path="/",
                                      expires_at=expires_at)

    assert idempotency_keys_purge_task.call() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_reconcile_task_stores_a_run():
    AccountFactory(balance=700)

    result = reconcile_task.call()

    run = ReconciliationRun.objects.get()
    assert result == {"run_id": run.pk, "ok": True, "drift_count": 0}


def test_task_results_prune_task_deletes_finished_task_rows_older_than_14_days():
    finished = {}
    for status, age in ((TaskResultStatus.SUCCESSFUL, 15), (TaskResultStatus.FAILED, 15),
                        (TaskResultStatus.SUCCESSFUL, 13)):
        done = reconcile_task.enqueue()
        DBTaskResult.objects.filter(pk=done.id).update(status=status, finished_at=timezone.now() - timedelta(days=age))
        finished[(status, age)] = done.id
    waiting = reconcile_task.enqueue()

    task_results_prune_task.call()

    assert set(DBTaskResult.objects.values_list("id", flat=True)) == {
        DBTaskResult.objects.get(pk=finished[(TaskResultStatus.SUCCESSFUL, 13)]).pk,
        DBTaskResult.objects.get(pk=waiting.id).pk}
