"""The audit log: search by target id, operator or note, filters, sorting and paging with a count."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from audit.models import AuditEntry

from ..list_paging import assert_pages_both_ways, result_count

pytestmark = pytest.mark.django_db

ROW = '<span class="badge">'  # the action column


def entries_in_bulk(user, n: int, *, start: datetime, **fields) -> None:
    AuditEntry.objects.bulk_create([
        AuditEntry(actor=user, target_type="order", created_at=start + timedelta(minutes=i),
                   **({"actor_name": "op", "action": "refund.created", "target_id": str(uuid.uuid4())} | fields))
        for i in range(n)
    ])


def listed(client, **params) -> str:
    return client.get(f"/audit/?{urlencode(params)}").content.decode()


def test_the_search_finds_an_entry_by_target_id_prefix_operator_or_note(operator):
    start = datetime(2026, 2, 1, tzinfo=UTC)
    target = str(uuid.uuid4())
    entries_in_bulk(operator.user, 5, start=start)
    entries_in_bulk(operator.user, 1, start=start, target_id=target, actor_name="alice", note="customer called")

    for typed in (target[:8], "alice", "called"):
        assert result_count(listed(operator, q=typed)) == "1-1 of 1", typed


def test_filters_and_both_sort_directions(operator):
    entries_in_bulk(operator.user, 2, start=datetime(2026, 2, 1, 23, 59, tzinfo=UTC), note="early")
    entries_in_bulk(operator.user, 1, start=datetime(2026, 2, 3, tzinfo=UTC), actor_name="bob", note="late",
                    action="payment.resolved")

    assert result_count(listed(operator, actor="bob")) == "1-1 of 1"
    assert result_count(listed(operator, action="payment.resolved")) == "1-1 of 1"
    assert result_count(listed(operator, to="2026-02-01")) == "1-1 of 1"
    newest = listed(operator)
    assert newest.index(">late<") < newest.index(">early<")
    oldest = listed(operator, sort="created")
    assert oldest.index(">early<") < oldest.index(">late<")


@pytest.mark.parametrize("total", [0, 1, 50, 51, 326])
def test_counts_and_paging_both_ways_are_right(operator, total):
    entries_in_bulk(operator.user, total, start=datetime(2026, 2, 1, tzinfo=UTC))

    assert_pages_both_ways(operator, "/audit/?sort=created", total=total, row_marker=ROW)


def test_an_empty_result_says_why_and_offers_to_clear_the_filters(operator):
    page = listed(operator, q="walnut", actor="nobody")

    assert "No operator action matches “walnut” by nobody." in page
    assert '<a href="/audit/" data-testid="clear-filters">Clear filters</a>' in page
    assert "No operator action recorded yet." in listed(operator)
