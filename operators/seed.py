"""Demo dashboard users (one per role) and a day of order activity for the dashboard to show.

Everything goes through the same services as the API and the dashboard: orders are created and
paid with the simulated provider (forced outcomes), refunds and resolutions are made by the demo
operator through `operator_refund` and `operator_resolve_pending`, so they are in the audit log.
Running it twice changes nothing: ids are derived from fixed names, and every pay, refund and
resolve key is fixed.
"""

import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from audit.models import AuditAction, AuditEntry
from payments.models import Order, OrderStatus
from payments.services import operator_refund, operator_resolve_pending, order_create, order_pay

from .roles import ADMIN, OPERATOR, VIEWER

_NAMESPACE = uuid.UUID("6a1f0c2e-57b4-4d7e-9a3c-2f5e8b1d4c70")

# username: (role, staff?). The superuser `admin` sits in the admin group too, so the demo
# shows the role; being a superuser it passes every check anyway.
DEMO_USERS = {"viewer": (VIEWER, False), "operator": (OPERATOR, False), "admin": (ADMIN, True)}

# (name, buyer, seller, amount in minor units, currency, buyer trust, forced provider outcome,
#  refund in minor units or None, resolve "PAID"/"FAILED" with this note, or None)
DEMO_ACTIVITY = [
    ("walnut-desk", "buyer-amara", "seller-nordic-home", 48_900, "USD", "standard", "success", None, None),
    ("linen-set", "buyer-bruno", "seller-nordic-home", 12_450, "USD", "trusted", "success", 4_150, None),
    ("sencha-tin", "buyer-chen", "seller-kyoto-tea", 3_200, "JPY", "trusted", "success", None, None),
    ("matcha-kit", "buyer-hana", "seller-kyoto-tea", 8_800, "JPY", "standard", "success", 8_800, None),
    ("desk-lamp", "buyer-dana", "seller-lumen", 6_999, "USD", "new", "decline", None, None),
    ("gift-card", "buyer-eli", None, 5_000, "USD", "standard", "success", None, None),
    ("city-bike", "buyer-farah", "seller-velo", 64_000, "EUR", "standard", "success", None, None),
    ("bike-lock", "buyer-farah", "seller-velo", 3_900, "EUR", "trusted", "success", None, None),
    ("rain-jacket", "buyer-goro", "seller-velo", 11_900, "EUR", "new", "outage", None, None),
    ("gold-pack", "buyer-amara", None, 250, "GOLD", "standard", "success", None, None),
    ("gold-chest", "buyer-bruno", None, 1_200, "GOLD", "trusted", "success", 200, None),
    ("espresso", "buyer-chen", "seller-lumen", 18_500, "USD", "trusted", "outage", None, None),
    ("armchair", "buyer-eli", "seller-nordic-home", 15_900, "USD", "trusted", "outage", None, None),
    ("tea-bowls", "buyer-hana", "seller-kyoto-tea", 12_000, "JPY", "trusted", "outage", None, None),
    ("pannier", "buyer-farah", "seller-velo", 7_450, "EUR", "trusted", "outage", None,
     ("PAID", "Provider dashboard shows the charge captured (ticket OPS-311).")),
    ("floor-rug", "buyer-dana", "seller-nordic-home", 9_900, "USD", "trusted", "outage", None,
     ("FAILED", "Provider confirmed the card was never charged (ticket OPS-312).")),
    ("headphones", "buyer-goro", "seller-lumen", 21_900, "USD", "standard", "decline", None, None),
    ("kettle", "buyer-amara", "seller-kyoto-tea", 4_500, "USD", "standard", "success", 4_500, None),
    ("notebook", "buyer-bruno", None, 1_250, "USD", "standard", "success", None, None),
    ("planter", "buyer-hana", "seller-nordic-home", 2_750, "EUR", "standard", None, None, None),
]


def seed_demo_users(*, password: str) -> list[tuple[str, str]]:
    """Create one demo user per role (the superuser `admin` must exist); return (username, role)."""
    User = get_user_model()
    created = []
    for username, (role, staff) in DEMO_USERS.items():
        user, is_new = User.objects.get_or_create(
            username=username, defaults={"is_staff": staff, "email": f"{username}@example.com"}
        )
        if is_new:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        created.append((username, role))
    return created


def seed_demo_activity(*, owner: str, operator) -> list[str]:
    """Create, pay, refund and resolve the demo orders of this owner; return their ids."""
    ids = []
    for name, buyer, seller, amount, currency, trust, outcome, refund, resolve in DEMO_ACTIVITY:
        order_id = uuid.uuid5(_NAMESPACE, f"{owner}:{name}")
        if not Order.objects.filter(pk=order_id).exists():
            order_create(
                owner=owner, user_id=buyer, seller_id=seller, amount=amount, currency=currency,
                description=f"Demo: {name.replace('-', ' ')}", buyer_trust=trust, order_id=order_id,
            )
        if outcome is not None:
            order_pay(order_id=order_id, idempotency_key=f"seed:pay:{name}", simulate=outcome)
        if refund is not None:
            operator_refund(
                actor=operator, order_id=order_id, amount=refund, reason="Demo: returned by the buyer",
                idempotency_key=uuid.uuid5(_NAMESPACE, f"refund:{owner}:{name}").hex,
            )
        if resolve is not None and not AuditEntry.objects.filter(
            action=AuditAction.PAYMENT_RESOLVED, target_type="order", target_id=str(order_id)
        ).exists():
            if Order.objects.get(pk=order_id).status == OrderStatus.PENDING_PAYMENT:
                operator_resolve_pending(actor=operator, order_id=order_id, outcome=resolve[0], note=resolve[1])
        ids.append(str(order_id))
    return ids
