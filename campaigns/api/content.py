"""REST API of the content library: materials in folders with tags, quick-reply scripts in
categories, and the sensitive-word list with a check editors call as they type.

Everything goes through ``campaigns.services.content``: a blocked sensitive word is a 400 naming
the word on the field holding it; warn-only words are saved and listed in the answer's
``warnings``. Files travel base64-encoded in ``file_base64`` with their ``file_name``, as for
welcome attachments, and are never returned. Guides (and store managers) read materials and
scripts to send them; writing needs the model permissions of admins and marketing managers. The
word list itself is read only by those who may view it; anyone with a role may check a text.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from customers.filters import IdListFilter
from scrm.api.pagination import CursorPagination
from scrm.api.permissions import RolePermission
from scrm.api.serializers import DetailUrlField, ModelSerializer, NestedPrimaryKeyRelatedField
from scrm.api.viewsets import ModelViewSet

from ..models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord
from ..models.content import MaterialKind
from ..selectors.content import (
    material_folder_list,
    material_list,
    material_search,
    material_tag_list,
    script_category_list,
    script_list,
    sensitive_word_list,
)
from ..services.content import (
    material_delete,
    material_folder_delete,
    material_folder_save,
    material_save,
    material_tag_delete,
    material_tag_save,
    script_category_delete,
    script_category_save,
    script_delete,
    script_save,
    sensitive_word_delete,
    sensitive_word_save,
    sensitive_words_find,
)
from .welcome import ATTACHMENT_FIELDS, AttachmentFileMixin, WarningsField

__all__ = ["urlpatterns"]


# --- folders and tags -----------------------------------------------------------------------------


class MaterialFolderSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:material-folder-detail")
    material_count = serializers.IntegerField(read_only=True, help_text="Materials directly in this folder.")

    class Meta:
        model = MaterialFolder
        fields = ["id", "url", "name", "parent", "material_count", "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []  # unique names among siblings: checked by the service with a message


class MaterialFolderViewSet(ModelViewSet):
    """Folders of the material library; deleting one moves its content up to its parent."""

    serializer_class = MaterialFolderSerializer
    filterset_fields = ["parent"]

    def get_queryset(self):
        return material_folder_list().order_by("-id")

    def _save(self, serializer, folder: MaterialFolder) -> None:
        for name, value in serializer.validated_data.items():
            setattr(folder, name, value)
        material_folder_save(folder=folder)
        serializer.instance = self.get_queryset().get(pk=folder.pk)

    def perform_create(self, serializer):
        self._save(serializer, MaterialFolder())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        material_folder_delete(folder=instance)


class MaterialTagSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:material-tag-detail")
    material_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = MaterialTag
        fields = ["id", "url", "name", "material_count", "created_at"]
        read_only_fields = ["created_at"]


class MaterialTagViewSet(ModelViewSet):
    """Labels of the content library (our own, not WeCom's customer tags)."""

    serializer_class = MaterialTagSerializer

    def get_queryset(self):
        return material_tag_list().order_by("-id")

    def _save(self, serializer, tag: MaterialTag) -> None:
        for name, value in serializer.validated_data.items():
            setattr(tag, name, value)
        material_tag_save(tag=tag)
        serializer.instance = self.get_queryset().get(pk=tag.pk)

    def perform_create(self, serializer):
        self._save(serializer, MaterialTag())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        material_tag_delete(tag=instance)


# --- materials ------------------------------------------------------------------------------------


class MaterialFilterSet(django_filters.FilterSet):
    folder = IdListFilter(
        queryset=MaterialFolder.objects.all(),
        method="filter_folder",
        label=gettext_lazy("In this folder or below it (id)"),
    )
    kind = django_filters.ChoiceFilter(choices=MaterialKind.choices, label=gettext_lazy("Type"))
    tag = IdListFilter(
        queryset=MaterialTag.objects.all(),
        method="filter_tag",
        label=gettext_lazy("Has any of these tags (ids)"),
    )
    q = django_filters.CharFilter(
        method="filter_q", max_length=100, label=gettext_lazy("Search title, text and description")
    )

    class Meta:
        model = Material
        fields = ["folder", "kind", "tag", "q"]

    def filter_folder(self, queryset, name, value):
        for folder in value:
            queryset = material_search(queryset, folder=folder)
        return queryset

    def filter_tag(self, queryset, name, value):
        return material_search(queryset, tags=list(value)) if value else queryset

    def filter_q(self, queryset, name, value):
        return material_search(queryset, q=value)


class MaterialSerializer(AttachmentFileMixin, ModelSerializer):
    url = DetailUrlField(view_name="api-v1:material-detail")
    kind = serializers.ChoiceField(choices=MaterialKind.choices)
    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=MaterialTag.objects.all(), required=False)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)
    warnings = WarningsField()

    class Meta:
        model = Material
        fields = [
            "id",
            "url",
            "kind",
            "title",
            "text",
            "folder",
            "tags",
            *[name for name in ATTACHMENT_FIELDS if name not in ("kind", "title")],
            "file_name",
            "file_base64",
            "file_size",
            "media_uploaded_at",
            "created_by",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = ["created_at", "updated_at"]


class MaterialBriefSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:material-detail")
    kind = serializers.ChoiceField(choices=MaterialKind.choices, read_only=True)

    class Meta:
        model = Material
        fields = ["id", "url", "kind", "title"]


class MaterialViewSet(ModelViewSet):
    """Materials of the library: texts, images, links, mini-programs, files and videos."""

    serializer_class = MaterialSerializer
    filterset_class = MaterialFilterSet

    def get_queryset(self):
        return material_list()

    def _save(self, serializer, material: Material) -> None:
        data = dict(serializer.validated_data)
        tags = data.pop("tags", None)
        for name, value in data.items():
            setattr(material, name, value)
        warnings = material_save(material=material, tags=tags, by=self.request.user)
        serializer.instance = self.get_queryset().get(pk=material.pk)
        serializer.instance.sensitive_warnings = warnings

    def perform_create(self, serializer):
        self._save(serializer, Material())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        material_delete(material=instance)


# --- scripts --------------------------------------------------------------------------------------


class ScriptCategorySerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:script-category-detail")
    script_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ScriptCategory
        fields = ["id", "url", "name", "sort_order", "script_count", "created_at"]
        read_only_fields = ["created_at"]


class ScriptCategoryBriefSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:script-category-detail")

    class Meta:
        model = ScriptCategory
        fields = ["id", "url", "name"]


class ScriptCategoryViewSet(ModelViewSet):
    """Categories of quick replies; one holding scripts cannot be deleted."""

    serializer_class = ScriptCategorySerializer

    def get_queryset(self):
        return script_category_list().order_by("-id")

    def _save(self, serializer, category: ScriptCategory) -> None:
        for name, value in serializer.validated_data.items():
            setattr(category, name, value)
        script_category_save(category=category)
        serializer.instance = self.get_queryset().get(pk=category.pk)

    def perform_create(self, serializer):
        self._save(serializer, ScriptCategory())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        script_category_delete(category=instance)


class ScriptFilterSet(django_filters.FilterSet):
    category = IdListFilter(
        queryset=ScriptCategory.objects.all(), field_name="category", label=gettext_lazy("Categories (ids)")
    )
    q = django_filters.CharFilter(
        method="filter_q", max_length=100, label=gettext_lazy("Search title and text")
    )

    class Meta:
        model = Script
        fields = ["category", "q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(title__icontains=value) | Q(text__icontains=value))


class ScriptPagination(CursorPagination):
    # The order guides see in the sidebar; ``id`` breaks ties so the cursor never skips a row.
    ordering = ("sort_order", "id")


class ScriptSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:script-detail")
    category = NestedPrimaryKeyRelatedField(
        brief_serializer=ScriptCategoryBriefSerializer, queryset=ScriptCategory.objects.all()
    )
    materials = NestedPrimaryKeyRelatedField(
        brief_serializer=MaterialBriefSerializer,
        queryset=Material.objects.defer("file_content"),
        many=True,
        required=False,
    )
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)
    warnings = WarningsField()

    class Meta:
        model = Script
        fields = [
            "id",
            "url",
            "category",
            "title",
            "text",
            "materials",
            "sort_order",
            "created_by",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = ["created_at", "updated_at"]


class ScriptViewSet(ModelViewSet):
    """Quick replies (话术) in categories, in their order: a text, optionally with materials."""

    serializer_class = ScriptSerializer
    filterset_class = ScriptFilterSet
    pagination_class = ScriptPagination

    def get_queryset(self):
        return script_list()

    def _save(self, serializer, script: Script) -> None:
        data = dict(serializer.validated_data)
        materials = data.pop("materials", None)
        for name, value in data.items():
            setattr(script, name, value)
        warnings = script_save(script=script, materials=materials, by=self.request.user)
        serializer.instance = self.get_queryset().get(pk=script.pk)
        serializer.instance.sensitive_warnings = warnings

    def perform_create(self, serializer):
        self._save(serializer, Script())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        script_delete(script=instance)


# --- sensitive words ------------------------------------------------------------------------------


class SensitiveWordPermission(RolePermission):
    """Reading the list needs its view permission (the list is not for every role to browse);
    the check action is open to every role."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in permissions.SAFE_METHODS:
            return request.user.has_perm("campaigns.view_sensitiveword")
        return True


class SensitiveWordSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:sensitive-word-detail")

    class Meta:
        model = SensitiveWord
        fields = ["id", "url", "word", "action", "note", "created_at"]
        read_only_fields = ["created_at"]


class SensitiveWordCheckSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, max_length=20000, trim_whitespace=False)


class SensitiveWordCheckResultSerializer(serializers.Serializer):
    blocked = serializers.ListField(
        child=serializers.CharField(), help_text="Words that stop a save or a send."
    )
    warned = serializers.ListField(child=serializers.CharField(), help_text="Words worth a second look.")


class SensitiveWordFilterSet(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=SensitiveWord.Action.choices, label=gettext_lazy("Action"))
    q = django_filters.CharFilter(
        field_name="word", lookup_expr="icontains", max_length=100, label=gettext_lazy("Word contains")
    )

    class Meta:
        model = SensitiveWord
        fields = ["action", "q"]


class SensitiveWordViewSet(ModelViewSet):
    """The sensitive-word list: content holding a ``block`` word is neither saved nor sent."""

    serializer_class = SensitiveWordSerializer
    filterset_class = SensitiveWordFilterSet
    permission_classes = [SensitiveWordPermission]

    def get_queryset(self):
        return sensitive_word_list()

    def _save(self, serializer, word: SensitiveWord) -> None:
        for name, value in serializer.validated_data.items():
            setattr(word, name, value)
        serializer.instance = sensitive_word_save(word=word)

    def perform_create(self, serializer):
        self._save(serializer, SensitiveWord())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        sensitive_word_delete(word=instance)

    @extend_schema(
        summary="Which listed words a text holds (200 either way, to check while typing)",
        request=SensitiveWordCheckSerializer,
        responses=SensitiveWordCheckResultSerializer,
    )
    @action(
        detail=False,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        serializer_class=SensitiveWordCheckSerializer,
        required_permissions=[],
    )
    def check(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        blocked, warned = sensitive_words_find(serializer.validated_data["text"])
        return Response(SensitiveWordCheckResultSerializer({"blocked": blocked, "warned": warned}).data)


router = SimpleRouter()
router.register("materials", MaterialViewSet, basename="material")
router.register("material-folders", MaterialFolderViewSet, basename="material-folder")
router.register("material-tags", MaterialTagViewSet, basename="material-tag")
router.register("scripts", ScriptViewSet, basename="script")
router.register("script-categories", ScriptCategoryViewSet, basename="script-category")
router.register("sensitive-words", SensitiveWordViewSet, basename="sensitive-word")

urlpatterns = router.urls
