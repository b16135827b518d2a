"""The event types: the one list of what can happen, and what each event's `data` holds.

`data` is the body the API returns for the resource at the moment of the change (docs/api.md,
"Events and outbound webhooks"), so a client that reads the API can read an event. An app that
records an event passes that body; `events.services.event_record` refuses a type not listed here.
"""

SUBSCRIBE_ALL = "*"

EVENT_TYPES: dict[str, str] = {
    "account.deposit": "The deposit response: transaction_id, type, amount, currency, description, account.",
    "account.withdrawal": "The withdrawal response, shaped as the deposit's.",
    "transfer.created": "The transfer: id, source and destination account ids, amount, currency, entries.",
    "transaction.reversed": "The reversal: id, reverses, entries, created_at.",
    "hold.created": "The hold: id, accounts, amount, captured_amount, currency, status HELD, expires_at.",
    "hold.captured": "The hold, status CAPTURED, with its captured_amount.",
    "hold.voided": "The hold, status VOIDED.",
    "hold.expired": "The hold, status EXPIRED.",
    "wallet.topup": "The wallet transaction, type topup: id, reference_id, user_id, amount, currency, balance_after.",
    "wallet.bonus": "The wallet transaction, type bonus.",
    "wallet.spend": "The wallet transaction, type spend.",
    "order.created": "The order: id, user_id, seller_id, amount, currency, status CREATED, refunded_amount.",
    "order.authorized": "The order, status AUTHORIZED.",
    "order.paid": "The order, status PAID.",
    "order.failed": "The order, status FAILED.",
    "order.pending_payment": "The order, status PENDING_PAYMENT.",
    "order.canceled": "The order, status CANCELED.",
    "order.partially_refunded": "The order, status PARTIALLY_REFUNDED, with its refunded_amount.",
    "order.refunded": "The order, status REFUNDED.",
    "refund.succeeded": "The refund: id, order_id, amount, currency, reason, status, created_at.",
}

# The longest type name, with room to grow: the width of the columns that hold one.
TYPE_MAX_LENGTH = 64


def is_event_type(name: str) -> bool:
    return name in EVENT_TYPES


def unknown_subscriptions(names: list[str]) -> list[str]:
    """Return the names in an endpoint's subscription list that are neither an event type nor `*`."""
    return [name for name in names if name != SUBSCRIBE_ALL and name not in EVENT_TYPES]


def subscribes_to(subscriptions: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to `subscriptions` receives events of `event_type`."""
    return SUBSCRIBE_ALL in subscriptions or event_type in subscriptions
