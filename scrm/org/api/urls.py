from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("staff", views.StaffViewSet, basename="staff")

urlpatterns = router.urls
