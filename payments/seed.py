"""Demo orders for `manage.py seed_demo`, made through the same services as the API.

Running it twice changes nothing: order ids are derived from the owner and a fixed name, and the
pay and refund keys are fixed, so a second run finds every attempt and refund already made.
"""

import uuid

from .models import Order
from .services import order_create, order_pay, refund_create

_NAMESPACE = uuid.UUID("3c0f5e1a-9b7d-4c2e-8f6a-1d2b3c4d5e6f")

# (name, user_id, seller_id, amount, currency, simulated outcome or None to stay unpaid, refund)
DEMO_ORDERS = [
    ("mug", "demo-user-alice", None, 2_500, "USD", "success", None),
    ("lamp", "demo-user-bob", "demo-seller-lumen", 4_800, "USD", "success", 1_200),
    ("chair", "demo-user-alice", "demo-seller-oak", 12_900, "USD", "decline", None),
    ("tea", "demo-user-chiyo", None, 1_800, "JPY", "success", None),
    ("poster", "demo-user-bob", None, 900, "USD", None, None),
]


def seed_demo_orders(*, owner: str) -> list[str]:
    """Create the demo orders of this owner (paid, partially refunded, failed, unpaid); return their ids."""
    ids = []
    for name, user_id, seller_id, amount, currency, outcome, refund in DEMO_ORDERS:
        order_id = uuid.uuid5(_NAMESPACE, f"{owner}:{name}")
        if not Order.objects.filter(pk=order_id).exists():
            order_create(
                owner=owner, user_id=user_id, seller_id=seller_id, amount=amount, currency=currency,
                description=f"Demo order: {name}", order_id=order_id,
            )
        if outcome is not None:
            order_pay(order_id=order_id, idempotency_key=f"seed:pay:{name}", simulate=outcome)
        if refund is not None:
            refund_create(
                order_id=order_id, amount=refund, reason="Demo: arrived damaged",
                created_by=owner, idempotency_key=f"seed:refund:{name}",
            )
        ids.append(str(order_id))
    return ids
