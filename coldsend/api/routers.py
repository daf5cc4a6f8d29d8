from rest_framework.routers import SimpleRouter


def api_router() -> SimpleRouter:
    """A router whose routes answer with or without a trailing slash, never redirecting."""
    router = SimpleRouter()
    # SimpleRouter's constructor turns any truthy trailing_slash into "/"; set the pattern after.
    router.trailing_slash = "/?"
    return router
