from rest_framework.routers import SimpleRouter


def api_router() -> SimpleRouter:
    """A router whose routes answer with or without a trailing slash, never redirecting."""
    return SimpleRouter(trailing_slash="/?")
