from rest_framework.routers import SimpleRouter

from . import segments, views

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("follows", views.FollowViewSet, basename="follow")
router.register("tag-groups", views.TagGroupViewSet, basename="tag-group")
router.register("tags", views.TagViewSet, basename="tag")
router.register("segments", segments.SegmentViewSet, basename="segment")

urlpatterns = router.urls
