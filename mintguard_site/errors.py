"""The one base of every domain error. It imports nothing of ours, so every app can derive from it.

A domain error carries a stable `code` that clients branch on, a `title`, a `detail` for this
occurrence and a `category` that says what kind of failure it is without naming HTTP (the apps
know nothing of HTTP; `mintguard_site.api.errors` maps categories to statuses):

- "invalid": a request that parses but makes no sense;
- "validation": a field fails its schema (`context["field"]` names it);
- "unauthenticated": the caller is not who it claims (a bad webhook signature);
- "conflict": the current state forbids it;
- "not_found": what it names does not exist for this caller.
"""

CATEGORIES = frozenset({"invalid", "validation", "unauthenticated", "conflict", "not_found"})


class DomainError(Exception):
    code = "domain_error"
    title = "Domain error"
    category = "invalid"

    def __init__(self, detail: str = "", **context):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.context = context

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.category not in CATEGORIES:
            raise TypeError(f"{cls.__name__}.category {cls.category!r} is not one of {sorted(CATEGORIES)}")
