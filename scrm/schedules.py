"""Beat schedules that the apps need, created once by name after ``migrate``.

Each app connects ``post_migrate`` (with ``sender=`` its own config) to a receiver that calls
:func:`periodic_task_ensure`. A schedule of that name is created when missing and never changed
afterwards, so what an administrator edited or disabled in the admin stays as they left it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


def schedule_time_zone() -> str:
    """The scheduler's time zone (Celery's setting, falling back to Django's)."""
    return (
        getattr(settings, "CELERY_TIMEZONE", None)
        or getattr(settings, "CELERY_TIME_ZONE", None)
        or settings.TIME_ZONE
    )


def periodic_task_ensure(
    *,
    name: str,
    task: str,
    queue: str,
    description: str,
    every_seconds: int | None = None,
    crontab: dict[str, str] | None = None,
    using: object = None,
) -> bool:
    """Create the periodic task ``name`` unless one of that name exists; return whether it did.

    ``every_seconds`` makes an interval schedule; ``crontab`` (``minute``, ``hour``, …; the rest
    ``*``) a crontab in :func:`schedule_time_zone`. A partial ``migrate`` that has not created the
    scheduler's tables yet creates nothing.
    """
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    alias = str(using or DEFAULT_DB_ALIAS)
    if PeriodicTask._meta.db_table not in connections[alias].introspection.table_names():
        return False
    tasks = PeriodicTask.objects.using(alias)
    if tasks.filter(name=name).exists():
        return False
    when: dict[str, object] = {}
    if every_seconds is not None:
        when["interval"], _ = IntervalSchedule.objects.using(alias).get_or_create(
            every=every_seconds, period=IntervalSchedule.SECONDS
        )
    if crontab is not None:
        fields = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
        when["crontab"], _ = CrontabSchedule.objects.using(alias).get_or_create(
            **{**fields, **crontab}, timezone=schedule_time_zone()
        )
    if len(when) != 1:
        raise ValueError("give exactly one of every_seconds and crontab")
    _, created = tasks.get_or_create(
        name=name, defaults={"task": task, "queue": queue, "description": description, **when}
    )
    return created
