"""The one registry of API scopes. Everything else (validation, the admin picker,
expansion of `RESOURCE:all` and `*`, the OpenAPI text) is derived from it."""

from collections.abc import Iterable

WILDCARD = "*"
ALL_ACTION = "all"

RESOURCES: dict[str, tuple[str, ...]] = {
    "campaigns": ("create", "read", "update", "delete", "pause", "activate"),
    "sender_accounts": ("create", "read", "update", "delete"),
    "leads": ("create", "read", "delete", "reply"),
    "webhooks": ("create", "read", "update", "delete"),
    "events": ("read",),
}

# Actions added to a resource after the first version (API.md §2): keys holding RESOURCE:all
# (or *) have them too, and the admin's key page says so beside RESOURCE:all. One line here per
# action added later (it must be in RESOURCES as well); the value says what it allows.
ADDED_LATER: dict[str, str] = {
    "sender_accounts:update": "PATCH sender_accounts/{id}",
    "leads:reply": "POST leads/{id}/reply",
}


def scope(resource: str, action: str) -> str:
    return f"{resource}:{action}"


# Every grantable scope, in registry order: each action, then RESOURCE:all, then *.
KNOWN_SCOPES: tuple[str, ...] = (
    *(scope(r, a) for r, actions in RESOURCES.items() for a in (*actions, ALL_ACTION)),
    WILDCARD,
)


def added_later(resource: str) -> list[str]:
    """The scopes of `resource` added after the first version, in registry order."""
    names = (scope(resource, action) for action in RESOURCES.get(resource, ()))
    return [name for name in names if name in ADDED_LATER]


def all_scope_note(resource: str) -> str:
    """What RESOURCE:all's checkbox says beside it: the actions it gained later ("" if none)."""
    later = [f"{name} ({ADDED_LATER[name]})" for name in added_later(resource)]
    return f"includes {', '.join(later)}, added later" if later else ""


class UnknownScopeError(ValueError):
    def __init__(self, unknown: Iterable[str]) -> None:
        self.unknown = sorted(set(unknown))
        super().__init__(
            f"Unknown scope(s): {', '.join(self.unknown)}. Known scopes: {', '.join(KNOWN_SCOPES)}"
        )


def parse_scopes(raw: str | Iterable[str]) -> list[str]:
    """Split, trim, de-duplicate and validate scopes; raise UnknownScopeError on any unknown."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = list(dict.fromkeys(s.strip() for s in items if s and s.strip()))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    if unknown:
        raise UnknownScopeError(unknown)
    return scopes


def grants(granted: Iterable[str], required: str) -> bool:
    """True when the granted scopes include `required`, directly, via RESOURCE:all or via *."""
    granted = set(granted)
    if WILDCARD in granted or required in granted:
        return True
    resource, _, _ = required.partition(":")
    return scope(resource, ALL_ACTION) in granted


def missing_scopes(granted: Iterable[str], required: Iterable[str]) -> list[str]:
    granted = list(granted)
    return sorted(r for r in required if not grants(granted, r))
