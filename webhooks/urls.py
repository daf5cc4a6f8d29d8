from coldsend.api.routers import api_router
from webhooks.views import WebhookViewSet

router = api_router()
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = router.urls
