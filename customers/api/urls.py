from rest_framework.routers import SimpleRouter

from . import segments, transfers, views

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("follows", views.FollowViewSet, basename="follow")
router.register("tag-groups", views.TagGroupViewSet, basename="tag-group")
router.register("tags", views.TagViewSet, basename="tag")
router.register("segments", segments.SegmentViewSet, basename="segment")
router.register("transfer-jobs", transfers.TransferJobViewSet, basename="transfer-job")
router.register("pool", transfers.PoolViewSet, basename="pool")

urlpatterns = router.urls
