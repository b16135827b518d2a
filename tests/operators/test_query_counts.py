"""No N+1 on the operators' own pages: the audit log and the overview cost a fixed number of queries."""

import uuid

import pytest

from audit.models import AuditEntry
from ledger.models import Account

from ..query_counts import page_queries
from .factories import paid_order, pending_order

pytestmark = pytest.mark.django_db


def test_the_audit_log_costs_the_same_with_fifty_entries(operator, django_assert_max_num_queries):
    one = page_queries(operator, "/audit/")
    AuditEntry.objects.bulk_create([
        AuditEntry(actor=operator.user, actor_name="op", action="refund.created", target_type="order",
                   target_id=str(uuid.uuid4())) for _ in range(55)
    ])

    with django_assert_max_num_queries(one + 1):  # + the actors filter list, empty before
        assert operator.get("/audit/").content.decode().count('<a class="mono" href="/orders/') == 50


def test_the_overview_costs_a_fixed_number_of_queries(viewer, django_assert_max_num_queries):
    paid_order(), pending_order()
    few = page_queries(viewer, "/")
    for _ in range(10):
        paid_order(currency="JPY")
        pending_order(currency="EUR")

    with django_assert_max_num_queries(few):
        assert viewer.get("/").status_code == 200
    assert Account.objects.filter(is_system=True).exists()
