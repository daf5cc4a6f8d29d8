from coldsend.api.routers import api_router

router = api_router()

urlpatterns = router.urls
