from coldsend.api.routers import api_router
from events.views import EventViewSet

router = api_router()
router.register("events", EventViewSet, basename="event")

urlpatterns = router.urls
