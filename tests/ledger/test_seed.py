import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ledger.models import Account, BalanceBucket, Posting, Transaction

from .invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        Account.objects.count(),
        Transaction.objects.count(),
        Posting.objects.count(),
        sorted(BalanceBucket.objects.values_list("balance", flat=True)),
        get_user_model().objects.count(),
    )


def test_seed_demo_funds_accounts_and_running_it_twice_changes_nothing():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    first = snapshot()
    call_command("seed_demo", stdout=open("/dev/null", "w"))

    assert snapshot() == first
    assert Account.objects.get(name="Alice").balance == 50_000
    assert get_user_model().objects.get(username="admin").is_superuser
    assert_ledger_consistent()
