from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("follows", views.FollowViewSet, basename="follow")
router.register("tag-groups", views.TagGroupViewSet, basename="tag-group")
router.register("tags", views.TagViewSet, basename="tag")

urlpatterns = router.urls
