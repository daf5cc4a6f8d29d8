from campaigns.views import CampaignViewSet
from coldsend.api.routers import api_router

router = api_router()
router.register("campaigns", CampaignViewSet, basename="campaign")

urlpatterns = router.urls
