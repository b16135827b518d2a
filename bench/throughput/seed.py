"""Seed the benchmark's data through the services the API uses; print what the load scripts need.

    python -m bench.throughput.seed base --spec spec.json --out base.json
    python -m bench.throughput.seed deepen --account ID --partner ID --count 50000 --out deepen.json
    python -m bench.throughput.seed cursor --account ID --page 1000 --out cursor.json
    python -m bench.throughput.seed orders --count 20000 --out orders.json

Runs in a child process with the server's environment (DATABASE_URL, SECRET_KEY...), so the deep
statement cursor it signs is one the server accepts. Each phase writes its result as JSON: the
API key, account ids, wallet user ids; the statement paths; the order ids.
"""

import argparse
import json
import sys
import time
from pathlib import Path

# A fixed key: the server and the load scripts both learn it from here.
API_KEY = "mg_bench_local_only_key_not_a_secret"  # noqa: S105
FUNDING = 10**12  # minor units per customer account: no run can drain it
CURRENCY = "USD"


def log(message: str) -> None:
    print(f"seed: {message}", file=sys.stderr, flush=True)


def in_batches(count: int, size: int):
    for start in range(0, count, size):
        yield range(start, min(start + size, count))


def accounts_open(*, owner: str, prefix: str, count: int) -> list[str]:
    """Open `count` customer accounts and fund each from cash; return their ids."""
    from django.db import transaction

    from ledger.services import account_create, deposit

    ids = []
    for batch in in_batches(count, 500):
        with transaction.atomic():
            for number in batch:
                account = account_create(owner=owner, name=f"{prefix} {number}", currency=CURRENCY)
                deposit(account_id=account.id, amount=FUNDING, reference=f"bench:fund:{prefix}:{number}",
                        owner=owner, description="Benchmark funding")
                ids.append(str(account.id))
    return ids


def statement_deepen(*, owner: str, account_id: str, partner_id: str, entries: int) -> None:
    """Give the account `entries` more statement entries: transfers of 1 to a partner account."""
    from django.db import transaction

    from ledger.services import transfer_create

    started = time.monotonic()
    for batch in in_batches(entries, 1000):
        with transaction.atomic():
            for number in batch:
                transfer_create(source_id=account_id, destination_id=partner_id, amount=1, owner=owner,
                                reference=f"bench:deep:{number}", description="Benchmark statement entry")
        if batch.stop % 10_000 == 0:
            log(f"statement entries {batch.stop}/{entries} ({time.monotonic() - started:.0f} s)")


def wallets_open(*, owner: str, users: int) -> list[str]:
    """Open and fund a USD wallet per user (top-up), so spends succeed and top-ups find the wallet."""
    from django.db import transaction

    from wallets.services import wallet_topup

    user_ids = [f"bench-user-{number}" for number in range(users)]
    for batch in in_batches(users, 500):
        with transaction.atomic():
            for number in batch:
                wallet_topup(owner=owner, user_id=user_ids[number], amount=FUNDING, currency=CURRENCY,
                             reference=f"bench:wallet:{number}", description="Benchmark funding")
    return user_ids


def orders_create(*, owner: str, count: int, label: str) -> list[str]:
    """Create `count` unpaid orders, one per pay request of the pay scenario."""
    from django.db import transaction

    from payments.services import order_create

    ids = []
    for batch in in_batches(count, 1000):
        with transaction.atomic():
            for number in batch:
                order = order_create(owner=owner, user_id=f"bench-buyer-{number % 1000}", amount=1 + number % 5000,
                                     currency=CURRENCY, description=f"Benchmark order {label}-{number}")
                ids.append(str(order.id))
    return ids


def deep_cursor(*, account_id: str, page: int, page_size: int) -> tuple[str, int]:
    """Sign the cursor that opens statement page `page` (1-based) of `page_size` entries, newest first.

    Page 1 holds entries last..last-size+1, so page p starts below entry last - size*(p-1) + 1: the
    position the API itself would put in the previous page's next_cursor.
    """
    from django.db.models import Max

    from ledger.models import Posting
    from mintguard_site.api.pagination import encode_cursor

    last = Posting.objects.filter(account_id=account_id).aggregate(last=Max("entry_number"))["last"] or 0
    before = last - page_size * (page - 1) + 1
    if before <= page_size:
        raise SystemExit(f"seed: the deep account has {last} entries, too few for page {page} of {page_size}")
    return encode_cursor(f"statement:{account_id}", [before]), last


def seed_base(spec: dict) -> dict:
    """Create the API client, the customer accounts and the funded wallets."""
    from mintguard_site.api.services import api_client_create

    timings = {}

    def timed(name, function, **kwargs):
        started = time.monotonic()
        result = function(**kwargs)
        timings[name] = round(time.monotonic() - started, 1)
        log(f"{name}: {timings[name]} s")
        return result

    client, _ = api_client_create(name="bench", key=API_KEY)
    owner = client.owner
    spread = timed("spread accounts", accounts_open, owner=owner, prefix="spread", count=spec["accounts"])
    contended = timed("contended accounts", accounts_open, owner=owner, prefix="contended", count=spec["contended"])
    deep, partner = timed("deep account", accounts_open, owner=owner, prefix="deep", count=2)
    users = timed("wallet users", wallets_open, owner=owner, users=spec["wallet_users"])
    return {
        "api_key": API_KEY,
        "owner": owner,
        "spread_accounts": spread,
        "contended_accounts": contended,
        "deep_account": deep,
        "deep_partner": partner,
        "wallet_users": users,
        "timings": timings,
    }


def bench_owner() -> str:
    from mintguard_site.api.models import ApiClient, hash_api_key

    return ApiClient.objects.get(key_hash=hash_api_key(API_KEY)).owner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["base", "deepen", "cursor", "orders"])
    parser.add_argument("--out", type=Path, required=True, help="where to write the phase's JSON result")
    parser.add_argument("--spec", type=Path, help="base: JSON {accounts, contended, wallet_users}")
    parser.add_argument("--account", help="deepen, cursor: the deep account's id")
    parser.add_argument("--partner", help="deepen: the account receiving its transfers")
    parser.add_argument("--count", type=int, default=0, help="deepen: entries to add; orders: orders to create")
    parser.add_argument("--page", type=int, default=1000, help="cursor: the page to open")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--label", default="", help="orders: a word in their descriptions")
    args = parser.parse_args()

    import django

    django.setup()
    if args.phase == "base":
        result = seed_base(json.loads(args.spec.read_text()))
    elif args.phase == "deepen":
        started = time.monotonic()
        statement_deepen(owner=bench_owner(), account_id=args.account, partner_id=args.partner, entries=args.count)
        result = {"seconds": round(time.monotonic() - started, 1)}
    elif args.phase == "cursor":
        cursor, last = deep_cursor(account_id=args.account, page=args.page, page_size=args.page_size)
        base = f"/api/v1/accounts/{args.account}/statement?limit={args.page_size}"
        result = {"page_1": base, "deep": f"{base}&cursor={cursor}", "entries": last}
    else:
        result = {"orders": orders_create(owner=bench_owner(), count=args.count, label=args.label)}
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
