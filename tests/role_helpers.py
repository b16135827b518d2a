"""The one way tests make dashboard users: a user in a role's group (viewer, operator, admin)."""

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

PASSWORD = "test-password-123"  # noqa: S105
_numbers = itertools.count(1)


def user_with_role(role: str | None, *, username: str | None = None, **extra):
    """A dashboard user in the group `role` (viewer, operator, admin), or in none; `extra` sets fields."""
    user = get_user_model().objects.create_user(
        username=username or f"{role or 'nobody'}-{next(_numbers)}", password=PASSWORD, **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
