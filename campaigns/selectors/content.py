"""Reads of the content library: the lists the admin and the API show.

The library is the company's, not a department's: every role that may open it sees all of it
(guides read materials and scripts to send them; writing is for the roles with the model
permissions, see ``scrm.org.roles``). Files stay in the database unless asked for.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from ..models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord

__all__ = [
    "material_folder_list",
    "material_list",
    "material_search",
    "material_tag_list",
    "script_category_list",
    "script_list",
    "sensitive_word_list",
]


def material_list() -> QuerySet[Material]:
    """Materials with their folder and tags, without their files' bytes."""
    return (
        Material.objects.defer("file_content")
        .select_related("folder")
        .prefetch_related(Prefetch("tags", queryset=MaterialTag.objects.order_by("name")))
    )


def material_search(
    queryset: QuerySet[Material],
    *,
    folder: MaterialFolder | None = None,
    kind: str | None = None,
    tags: list[MaterialTag] | None = None,
    q: str | None = None,
) -> QuerySet[Material]:
    """``queryset`` narrowed to a folder (and its subfolders), a kind, any of ``tags`` and a
    search of title, text and description."""
    if folder is not None:
        queryset = queryset.filter(folder_id__in=material_folder_subtree_ids(folder))
    if kind:
        queryset = queryset.filter(kind=kind)
    if tags:
        queryset = queryset.filter(
            pk__in=Material.tags.through.objects.filter(materialtag__in=tags).values("material_id")
        )
    if q:
        queryset = queryset.filter(Q(title__icontains=q) | Q(text__icontains=q) | Q(description__icontains=q))
    return queryset


def material_folder_subtree_ids(folder: MaterialFolder) -> list[int]:
    """Ids of ``folder`` and every folder below it (one query per level; at most five)."""
    found, level = [folder.pk], [folder.pk]
    while level:
        level = list(MaterialFolder.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        found += level
    return found


def material_folder_list() -> QuerySet[MaterialFolder]:
    """Folders with their parent and how many materials each holds directly."""
    return MaterialFolder.objects.select_related("parent").annotate(material_count=Count("materials"))


def material_tag_list() -> QuerySet[MaterialTag]:
    return MaterialTag.objects.annotate(material_count=Count("materials"))


def script_category_list() -> QuerySet[ScriptCategory]:
    return ScriptCategory.objects.annotate(script_count=Count("scripts"))


def script_list() -> QuerySet[Script]:
    """Quick replies with their category and their materials (without the files' bytes)."""
    return Script.objects.select_related("category").prefetch_related(
        Prefetch("materials", queryset=Material.objects.defer("file_content").order_by("id"))
    )


def sensitive_word_list() -> QuerySet[SensitiveWord]:
    return SensitiveWord.objects.all()
