import factory

from ledger.models import Account
from ledger.services import account_create, deposit


class AccountFactory(factory.Factory):
    """A customer account opened through the service, optionally funded by a deposit."""

    class Meta:
        model = Account

    owner = "client-a"
    name = factory.Sequence(lambda n: f"Customer {n}")
    currency = "USD"

    @classmethod
    def _create(cls, model_class, *, owner, name, currency, balance=0):
        account = account_create(owner=owner, name=name, currency=currency)
        if balance:
            deposit(account_id=account.id, amount=balance, reference=f"fund:{account.id}", owner=owner)
        return account
