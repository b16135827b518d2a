"""Demo wallets, made through the same services the API uses. Running it twice changes nothing:
every operation has a fixed reference, and the ledger posts a (owner, reference) once."""

from ledger.currencies import format_amount

from . import selectors, services

# (user, operation, amount in minor units, currency, description)
DEMO_WALLET_OPERATIONS = [
    ("user-ana", "topup", 10_000, "USD", "Card top-up"),
    ("user-ana", "bonus", 500, "USD", "Welcome bonus"),
    ("user-ana", "spend", 2_500, "USD", "Order 1001"),
    ("user-ana", "topup", 40, "GOLD", "Gold purchase"),
    ("user-ben", "topup", 5_000, "USD", "Card top-up"),
    ("user-ben", "bonus", 15, "GOLD", "Loyalty reward"),
    ("user-ben", "spend", 5, "GOLD", "Avatar skin"),
]
_SERVICES = {"topup": services.wallet_topup, "bonus": services.wallet_bonus, "spend": services.wallet_spend}


def seed_demo_wallets(*, owner: str) -> list[str]:
    """Give the demo users USD and GOLD wallets under this API client; return lines to print."""
    for number, (user_id, operation, amount, currency, description) in enumerate(DEMO_WALLET_OPERATIONS, 1):
        _SERVICES[operation](
            owner=owner, user_id=user_id, amount=amount, currency=currency, description=description,
            reference=f"seed:wallet:{number}:{user_id}:{operation}",
        )
    lines = []
    for user_id in sorted({user_id for user_id, *_ in DEMO_WALLET_OPERATIONS}):
        balances = selectors.wallet_balances(user_id=user_id, owner=owner)
        held = ", ".join(format_amount(amount, currency) for currency, amount in balances.totals.items())
        lines.append(f"Demo wallet {user_id}: {held}")
    return lines
