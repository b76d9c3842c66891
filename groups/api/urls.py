from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("groups", views.GroupChatViewSet, basename="group")
router.register("group-members", views.GroupMemberViewSet, basename="group-member")

urlpatterns = router.urls
