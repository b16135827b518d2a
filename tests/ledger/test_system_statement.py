"""A system account's statement on the dashboard walks every balance bucket, newest first."""

import html
import re

import pytest

from ledger.models import Posting
from ledger.services import account_create, deposit, system_account_id, system_accounts_create

pytestmark = pytest.mark.django_db

NEXT_PAGE = re.compile(r'href="\?cursor=([^"&]+)"[^>]*class="next"')


def test_the_cash_statement_pages_through_all_its_buckets_once(viewer, settings):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3
    account = account_create(owner="client-a", name="Payer", currency="USD")
    for n in range(120):
        deposit(account_id=account.id, amount=n + 1, reference=f"dep-{n}", owner="client-a")
    cash = system_account_id("cash", "USD")
    expected = {str(t) for t in Posting.objects.filter(account_id=cash).values_list("transaction_id", flat=True)}

    seen, url, pages = [], f"/ledger/accounts/{cash}/", 0
    while url:
        body = viewer.get(url).content.decode()
        seen += re.findall(r'href="/ledger/transactions/([0-9a-f-]+)/"', body)
        pages += 1
        found = NEXT_PAGE.search(body)
        url = f"/ledger/accounts/{cash}/?cursor={html.unescape(found.group(1))}" if found else None

    assert pages == 3  # 120 entries, 50 a page
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == expected
    assert "Bucket balance after" in body


def test_a_cursor_issued_before_a_bucket_was_added_still_pages_on(viewer, settings):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 2
    account = account_create(owner="client-a", name="Payer", currency="USD")
    for n in range(60):
        deposit(account_id=account.id, amount=1, reference=f"dep-{n}", owner="client-a")
    cash = system_account_id("cash", "USD")
    first = viewer.get(f"/ledger/accounts/{cash}/").content.decode()
    cursor = html.unescape(NEXT_PAGE.search(first).group(1))

    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3
    system_accounts_create(currencies=["USD"])  # bucket 2 appears
    for n in range(9):
        deposit(account_id=account.id, amount=1, reference=f"dep-more-{n}", owner="client-a")

    older = viewer.get(f"/ledger/accounts/{cash}/?cursor={cursor}")
    shown = re.findall(r'href="/ledger/transactions/([0-9a-f-]+)/"', older.content.decode())
    assert older.status_code == 200
    assert len(shown) == 10  # the rest of the walk that began before: the 60 entries less the first 50
    assert not set(shown) & set(re.findall(r'href="/ledger/transactions/([0-9a-f-]+)/"', first))


def test_a_forged_or_foreign_cursor_is_a_400(viewer):
    account = account_create(owner="client-a", name="Payer", currency="USD")
    deposit(account_id=account.id, amount=1, reference="dep", owner="client-a")
    cash = system_account_id("cash", "USD")

    assert viewer.get(f"/ledger/accounts/{cash}/?cursor=not-a-cursor").status_code == 400
