from coldsend.api.routers import api_router
from sender_accounts.views import SenderAccountViewSet

router = api_router()
router.register("sender_accounts", SenderAccountViewSet, basename="sender-account")

urlpatterns = router.urls
