import pytest
from django.urls import reverse

from wallets.models import Wallet

from .factories import WalletFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_wallets_with_formatted_balances(admin_client):
    WalletFactory(user_id="user-ana", currency="USD", balance=1_234)
    WalletFactory(user_id="user-ana", currency="GOLD", balance=35)

    response = admin_client.get(reverse("admin:wallets_wallet_changelist"))

    assert response.status_code == 200
    assert "user-ana" in response.text
    assert "12.34 USD" in response.text and "35 GOLD" in response.text


def test_admin_shows_a_wallet_read_only(admin_client):
    wallet = WalletFactory(balance=500)

    response = admin_client.get(reverse("admin:wallets_wallet_change", args=[wallet.pk]))

    assert response.status_code == 200
    assert "5.00 USD" in response.text
    assert 'name="_save"' not in response.text


def test_admin_cannot_add_change_or_delete_wallets(admin_client):
    wallet = WalletFactory()

    add = admin_client.get(reverse("admin:wallets_wallet_add"))
    change = admin_client.post(reverse("admin:wallets_wallet_change", args=[wallet.pk]), {"user_id": "mallory"})
    delete = admin_client.post(reverse("admin:wallets_wallet_delete", args=[wallet.pk]), {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert Wallet.objects.get(pk=wallet.pk).user_id == wallet.user_id
