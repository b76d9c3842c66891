"""Content library services: materials, scripts and the sensitive-word screen (PRODUCT.md D1).

Interface used by every outbound feature (broadcasts, moments, SOP steps, welcome messages):
call :func:`sensitive_words_check` with the texts when content is saved (the error goes to the
form or the API as a 400) and again right before it is sent.

The word list is read from the shared cache (one ``GET`` per check) and dropped from it on every
change; each process keeps the matcher it built for the list's current version, so thousands of
words are compiled once per change, not once per check. Matching is a case-insensitive substring
search (Chinese has no word boundaries) with an Aho-Corasick automaton: one pass over the text
finds every word on the list, overlapping ones included, whatever the list's length.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Sequence

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord
from ..models.content import MaterialKind
from ..models.welcome import AttachmentContent

__all__ = [
    "SensitiveWordBlocked",
    "material_attachment_fields",
    "material_delete",
    "material_folder_delete",
    "material_folder_save",
    "material_save",
    "material_tag_delete",
    "material_tag_save",
    "script_category_delete",
    "script_category_save",
    "script_delete",
    "script_save",
    "sensitive_word_delete",
    "sensitive_word_save",
    "sensitive_words_check",
    "sensitive_words_delete",
    "sensitive_words_find",
    "sensitive_words_import",
    "sensitive_words_invalidate",
    "sensitive_words_screen",
    "sensitive_words_set_action",
    "sensitive_words_warning",
]

CACHE_KEY = "campaigns:sensitive-words:v1"
#: Long enough to matter, short enough that a change made behind our back (SQL) heals itself.
CACHE_SECONDS = 3600
#: Words longer than the model allows are cut by the import, not refused one by one.
WORD_MAX_LENGTH = SensitiveWord._meta.get_field("word").max_length


class SensitiveWordBlocked(ValidationError):
    """Content holds a word on the list with the ``block`` action; the message names the word(s)."""

    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        super().__init__(
            ngettext(
                "Contains the sensitive word %(words)s: remove it before saving or sending.",
                "Contains the sensitive words %(words)s: remove them before saving or sending.",
                len(self.words),
            )
            % {"words": ", ".join(f"“{word}”" for word in self.words)},
            code="sensitive_word",
        )


# --- the matcher ----------------------------------------------------------------------------------


class _Matcher:
    """An Aho-Corasick automaton over casefolded words: ``find`` returns every word occurring in a
    text, in one pass over its characters."""

    def __init__(self, words: dict[str, tuple[str, str]]):
        # words: casefolded word -> (the word as written, its action)
        self.words = words
        self.goto: list[dict[str, int]] = [{}]
        self.out: list[list[str]] = [[]]
        for key in words:
            state = 0
            for char in key:
                nxt = self.goto[state].get(char)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[state][char] = nxt
                    self.goto.append({})
                    self.out.append([])
                state = nxt
            self.out[state].append(key)
        self.fail = [0] * len(self.goto)
        queue = deque(self.goto[0].values())
        while queue:
            state = queue.popleft()
            for char, nxt in self.goto[state].items():
                queue.append(nxt)
                back = self.fail[state]
                while back and char not in self.goto[back]:
                    back = self.fail[back]
                self.fail[nxt] = self.goto[back].get(char, 0)
                self.out[nxt] = self.out[nxt] + self.out[self.fail[nxt]]

    def find(self, text: str) -> set[str]:
        found: set[str] = set()
        goto, fail, out = self.goto, self.fail, self.out
        state = 0
        for char in text.casefold():
            while state and char not in goto[state]:
                state = fail[state]
            state = goto[state].get(char, 0)
            if out[state]:
                found.update(out[state])
        return found


#: This process's matcher and the version of the list it was built from.
_built: tuple[str | None, _Matcher | None] = (None, None)


def _word_list() -> dict:
    """The list as cached: ``{"token": …, "words": [(word, action), …]}``, loaded on a miss."""
    cached = cache.get(CACHE_KEY)
    if cached is None:
        words = list(SensitiveWord.objects.order_by("id").values_list("word", "action"))
        cached = {"token": uuid.uuid4().hex, "words": words}
        cache.set(CACHE_KEY, cached, CACHE_SECONDS)
    return cached


def _matcher() -> _Matcher:
    global _built
    cached = _word_list()
    token, matcher = _built
    if token != cached["token"] or matcher is None:
        words: dict[str, tuple[str, str]] = {}
        for word, action in cached["words"]:
            key = word.strip().casefold()
            if key and (key not in words or action == SensitiveWord.Action.BLOCK):
                words[key] = (word.strip(), action)
        matcher = _Matcher(words)
        _built = (cached["token"], matcher)  # one assignment: threads see the old pair or the new
    return matcher


def sensitive_words_invalidate() -> None:
    """Drop the cached list, now and after commit (a check between the two may have cached the list
    as it was before the change)."""
    cache.delete(CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))


def sensitive_words_find(*texts: str | None) -> tuple[list[str], list[str]]:
    """The words of the list in ``texts``: ``(blocked, warned)``, each sorted, as written on the
    list. Raises nothing: for editors checking as they type."""
    matcher = _matcher()
    if not matcher.words:
        return [], []
    found: set[str] = set()
    for text in texts:
        if text:
            found |= matcher.find(text)
    blocked = sorted(
        matcher.words[key][0] for key in found if matcher.words[key][1] == SensitiveWord.Action.BLOCK
    )
    warned = sorted(
        matcher.words[key][0] for key in found if matcher.words[key][1] != SensitiveWord.Action.BLOCK
    )
    return blocked, warned


def sensitive_words_check(*texts: str) -> list[str]:
    """Screen ``texts`` against the sensitive-word list.

    Raises :class:`SensitiveWordBlocked` naming every blocking word found; returns the warn-only
    words found (an empty list when the content is clean), for the caller to show as a warning.
    """
    blocked, warned = sensitive_words_find(*texts)
    if blocked:
        raise SensitiveWordBlocked(blocked)
    return warned


def sensitive_words_screen(fields: dict[str, str | Sequence[str] | None]) -> list[str]:
    """Check several fields at once (a field may hold several texts, e.g. all attachment titles):
    a blocked word is a :class:`ValidationError` on the field holding it (a form shows it there);
    returns the warn-only words of all fields."""
    errors: dict[str, list[str]] = {}
    warned: set[str] = set()
    for field, texts in fields.items():
        try:
            warned.update(sensitive_words_check(*([texts] if isinstance(texts, str) else texts or ())))
        except SensitiveWordBlocked as error:
            errors[field] = error.messages
    if errors:
        raise ValidationError(errors)
    return sorted(warned)


def sensitive_words_warning(words: Sequence[str]) -> str:
    """The warning shown to a person who saved content holding warn-only words."""
    return ngettext(
        "Saved, but it contains the sensitive word %(words)s: check it before sending.",
        "Saved, but it contains the sensitive words %(words)s: check them before sending.",
        len(words),
    ) % {"words": ", ".join(f"“{word}”" for word in words)}


# --- the word list --------------------------------------------------------------------------------


def sensitive_word_save(*, word: SensitiveWord) -> SensitiveWord:
    """Validate and save one word (unique whatever its case); the cached list is dropped."""
    word.full_clean()
    word.save()
    sensitive_words_invalidate()
    return word


def sensitive_word_delete(*, word: SensitiveWord) -> None:
    word.delete()
    sensitive_words_invalidate()


def sensitive_words_delete(*, ids: Iterable[int]) -> int:
    """Delete many words at once (the admin's bulk delete); returns how many went."""
    deleted, _counts = SensitiveWord.objects.filter(pk__in=list(ids)).delete()
    sensitive_words_invalidate()
    return deleted


def sensitive_words_set_action(*, ids: Iterable[int], action: str) -> int:
    """Switch many words to ``block`` or ``warn`` in one update; returns how many changed."""
    if action not in SensitiveWord.Action.values:
        raise ValidationError({"action": _("Choose block or warn.")})
    changed = SensitiveWord.objects.filter(pk__in=list(ids)).exclude(action=action).update(action=action)
    sensitive_words_invalidate()
    return changed


def sensitive_words_import(
    *, text: str, action: str = SensitiveWord.Action.BLOCK, note: str = ""
) -> tuple[int, int]:
    """Add the words of ``text``, one per line (blank lines ignored), in one bulk insert.

    Words already on the list (in any case) are left as they are. Returns ``(added, skipped)``.
    """
    if action not in SensitiveWord.Action.values:
        raise ValidationError({"action": _("Choose block or warn.")})
    seen: dict[str, str] = {}
    for line in text.splitlines():
        word = line.strip()[:WORD_MAX_LENGTH].strip()
        if word and word.casefold() not in seen:
            seen[word.casefold()] = word
    if not seen:
        raise ValidationError({"words": _("Give at least one word, one per line.")})
    existing = set()
    keys = [word.lower() for word in seen.values()]
    for start in range(0, len(keys), 500):  # under SQLite's limit of variables per statement
        existing.update(
            SensitiveWord.objects.annotate(lowered=Lower("word"))
            .filter(lowered__in=keys[start : start + 500])
            .values_list("lowered", flat=True)
        )
    new = [
        SensitiveWord(word=word, action=action, note=note[:200])
        for word in seen.values()
        if word.lower() not in existing
    ]
    with transaction.atomic():
        SensitiveWord.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    sensitive_words_invalidate()
    return len(new), len(seen) - len(new)


# --- folders and tags -----------------------------------------------------------------------------


def material_folder_save(*, folder: MaterialFolder) -> MaterialFolder:
    """Validate (no loops, at most five levels, unique names among siblings) and save."""
    folder.full_clean()
    folder.save()
    return folder


@transaction.atomic
def material_folder_delete(*, folder: MaterialFolder) -> None:
    """Delete ``folder``; its materials and subfolders move up to its parent (nothing is lost)."""
    parent_id = folder.parent_id
    Material.objects.filter(folder=folder).update(folder_id=parent_id)
    clashes = set(
        MaterialFolder.objects.filter(parent_id=parent_id)
        .exclude(pk=folder.pk)
        .values_list("name", flat=True)
    )
    for child in MaterialFolder.objects.filter(parent=folder):
        # A subfolder named like a sibling of its new level keeps its old folder's name as a prefix.
        if child.name in clashes:
            child.name = f"{folder.name} / {child.name}"[:100]
        child.parent_id = parent_id
        child.save(update_fields=["name", "parent"])
    folder.delete()


def material_tag_save(*, tag: MaterialTag) -> MaterialTag:
    tag.full_clean()
    tag.save()
    return tag


def material_tag_delete(*, tag: MaterialTag) -> None:
    tag.delete()


# --- materials ------------------------------------------------------------------------------------


def material_save(*, material: Material, tags: Iterable[MaterialTag] | None = None, by=None) -> list[str]:
    """Validate, screen for sensitive words and save ``material`` (and its ``tags`` when given).

    A blocked word is a :class:`ValidationError` on the field holding it; returns the warn-only
    words found, for the admin or the API to show. ``by`` is recorded as the creator of a new one.
    """
    material.full_clean(exclude=["tags"])
    warnings = sensitive_words_screen(
        {"title": material.title, "text": material.text, "description": material.description}
    )
    if material.kind == MaterialKind.TEXT:
        _attachment_clear(material)
    if material.pk is None and by is not None and getattr(by, "is_authenticated", False):
        material.created_by = by
    with transaction.atomic():
        material.save()
        if tags is not None:
            material.tags.set(tags)
    return warnings


def _attachment_clear(material: Material) -> None:
    """A text material carries no attachment: drop what a change of kind left behind."""
    material.link_url = material.pic_url = material.appid = material.page = material.file_name = ""
    material.description = ""
    material.file_content, material.file_size = None, 0
    material.media_id, material.media_uploaded_at = "", None


def material_delete(*, material: Material) -> None:
    material.delete()


#: The fields of ``AttachmentContent``, which a feature's own attachment row takes from a material.
ATTACHMENT_FIELDS = [field.name for field in AttachmentContent._meta.local_fields]


def material_attachment_fields(material: Material) -> dict:
    """The :class:`~campaigns.models.welcome.AttachmentContent` field values of a non-text
    material, for a broadcast, moment or SOP step to copy into its own attachment row:
    ``WelcomeAttachment(message=m, **material_attachment_fields(material))``.

    The file's bytes are read from the database when the material was loaded without them; a
    fresh ``media_id`` is carried along, so the copy need not upload the file again.
    """
    if material.kind == MaterialKind.TEXT:
        raise ValueError(f"material {material.pk} is a text: it has no attachment")
    values = {}
    for name in ATTACHMENT_FIELDS:
        if name == "file_content" and material.pk is not None and name in material.get_deferred_fields():
            content = Material.objects.filter(pk=material.pk).values_list("file_content", flat=True).first()
        else:
            content = getattr(material, name)
        values[name] = bytes(content) if name == "file_content" and content is not None else content
    return values


# --- scripts --------------------------------------------------------------------------------------


def script_category_save(*, category: ScriptCategory) -> ScriptCategory:
    category.full_clean()
    category.save()
    return category


def script_category_delete(*, category: ScriptCategory) -> None:
    """Delete an empty category; one holding scripts is refused (move or delete them first)."""
    try:
        category.delete()
    except ProtectedError as error:
        raise ValidationError(
            _("The category still holds %(count)s script(s): move or delete them first.")
            % {"count": len(error.protected_objects)},
            code="protected",
        ) from error


def script_save(*, script: Script, materials: Iterable[Material] | None = None, by=None) -> list[str]:
    """Validate, screen for sensitive words and save a quick reply (and its ``materials`` when
    given). Returns the warn-only words found; a blocked word is a :class:`ValidationError`."""
    script.full_clean(exclude=["materials"])
    warnings = sensitive_words_screen({"title": script.title, "text": script.text})
    if materials is not None:
        materials = list(materials)
        if not script.text.strip() and not materials:
            raise ValidationError({"text": [_("Give a text, a material, or both.")]})
    elif not script.text.strip() and not (script.pk and script.materials.exists()):
        raise ValidationError({"text": [_("Give a text, a material, or both.")]})
    if script.pk is None and by is not None and getattr(by, "is_authenticated", False):
        script.created_by = by
    try:
        with transaction.atomic():
            script.save()
            if materials is not None:
                script.materials.set(materials)
    except IntegrityError as error:  # the category was deleted meanwhile
        raise ValidationError({"category": [_("This category no longer exists.")]}) from error
    return warnings


def script_delete(*, script: Script) -> None:
    script.delete()
