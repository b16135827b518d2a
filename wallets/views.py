"""Dashboard page of wallets: look a user's wallets up by user id, or page through every wallet.
Thin: parse, call, render."""

from django.views.decorators.http import require_GET

from mintguard_site.api.serializers import normalise_identifier
from mintguard_site.dashboard import list_page, list_state, operator_required, render_page
from mintguard_site.search import SORTS

from .exceptions import WalletNotFound
from .selectors import wallet_balances, wallet_currencies, wallet_movements, wallets_search


@require_GET
@operator_required("wallets.view_wallet")
def wallet_lookup(request):
    user_id = request.GET.get("user_id", "").strip()[:64]
    # The API stores user ids in NFC and refuses invisible characters: look up the same way.
    normalised = normalise_identifier(user_id)
    filters = list_state(request, texts=("currency",))
    # The list's filters stay in the form while a user's wallets are shown, ready for going back.
    context = {
        "user_id": user_id, "balances": None, "movements": [], "filters": filters, "sorts": SORTS,
        "currencies": wallet_currencies(),
    }
    if user_id:
        try:
            if normalised is None:
                raise WalletNotFound("No wallet has a user id with invisible characters.")
            balances = wallet_balances(user_id=normalised, owner=None)
        except WalletNotFound:
            # No exact match: the box searches, listing the wallets whose user id contains it.
            context["not_found"] = True
            filters["q"] = normalised or ""
        else:
            context["balances"] = balances
            context["movements"] = wallet_movements(account_ids=[a.id for a in balances.accounts])
            return render_page(request, "wallets/lookup.html", context, partial="wallets/_lookup_results.html")
    # Every wallet (or those matching the box), newest first unless sorted or filtered otherwise.
    context |= list_page(request, wallets_search(**filters), filters)
    return render_page(request, "wallets/lookup.html", context, partial="wallets/_lookup_results.html")
