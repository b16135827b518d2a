import factory

from wallets.models import Wallet
from wallets.services import wallet_topup


class WalletFactory(factory.Factory):
    """A user's wallet opened through the top-up service (the only way a wallet opens)."""

    class Meta:
        model = Wallet

    owner = "client-a"
    user_id = factory.Sequence(lambda n: f"user-{n}")
    currency = "USD"

    @classmethod
    def _create(cls, model_class, *, owner, user_id, currency, balance=1):
        wallet_topup(owner=owner, user_id=user_id, amount=balance, currency=currency,
                     reference=f"fund:{owner}:{user_id}:{currency}")
        return Wallet.objects.select_related("account").get(
            owner=owner, user_id=user_id, currency=currency
        )
