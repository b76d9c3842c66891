"""Roles as Django permission groups, kept in step with the code.

A role decides two things: which admin pages and API writes a person may use (the permissions
below, granted through a Django group named after the role) and which rows they see (the data
scope, ``scrm.org.scoping``). Superusers are administrators whatever their operator row says.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission

from .models import Role

# app label -> model -> actions granted. Marketing managers and admins get every model of ours.
OUR_APPS = ("org", "customers", "groups", "campaigns", "wecom")
_READ_MOST = {
    "org": {"department": "view", "staff": "view"},
    "customers": {
        "customer": "view change",
        "follow": "view",
        "tag": "view",
        "taggroup": "view",
        "customerevent": "view",
        "customernote": "view add",
        "personaltag": "view",
    },
    "groups": {"groupchat": "view", "groupmember": "view", "grouptag": "view"},
    # Channel analytics are rolled up per staff member and scoped like customers (scrm.org.scoping).
    "campaigns": {
        "channel": "view",
        "channelday": "view",
        # Guides and store managers see the live codes they hand out, and why someone is not live.
        "livecode": "view",
        "livecodemember": "view",
        "livecodehours": "view",
        "livecodespecialdate": "view",
        # The content library is what frontline staff send; outreach they take part in is theirs to
        # follow (each list is scoped to their staff by its selector); their tasks are their inbox.
        "material": "view",
        "materialfolder": "view",
        "materialtag": "view",
        "script": "view",
        "scriptcategory": "view",
        "broadcast": "view",
        "momentcampaign": "view",
        "momentpublisher": "view",
        "stafftask": "view",
    },
}
# Store managers follow the departures of their stores: the transfer jobs from or to their staff
# (scoped by staff) and the customer pool (corp-wide: a pooled customer has no owner). Policies,
# the audit log, on-job transfers and claiming stay with marketing managers and administrators.
_STORE_MANAGER = {
    **_READ_MOST,
    "customers": {**_READ_MOST["customers"], "transferjob": "view", "poolentry": "view"},
}
ROLE_PERMISSIONS: dict[str, dict[str, dict[str, str]] | str] = {
    Role.ADMIN: "all",
    Role.MARKETING_MANAGER: "all",
    Role.STORE_MANAGER: _STORE_MANAGER,
    Role.GUIDE: _READ_MOST,
}


def role_group_name(role: str) -> str:
    return f"role:{role}"


def _permissions_for(spec) -> list[Permission]:
    perms = Permission.objects.select_related("content_type")
    if spec == "all":
        return list(perms.filter(content_type__app_label__in=OUR_APPS))
    wanted = {
        (app, f"{action}_{model}")
        for app, models in spec.items()
        for model, actions in models.items()
        for action in actions.split()
    }
    labels = {app for app, _ in wanted}
    return [
        p
        for p in perms.filter(content_type__app_label__in=labels)
        if (p.content_type.app_label, p.codename) in wanted
    ]


def roles_sync(sender=None, **kwargs) -> None:
    """Create or refresh one permission group per role. Runs after every ``migrate``."""
    # post_migrate is sent only for apps with a models module, so the last of those is the last sender.
    last_app = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender is not None and sender.label != last_app.label:
        return  # permissions of later apps are not created yet; the last app's signal does it all
    for role, spec in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role_group_name(role))
        group.permissions.set(_permissions_for(spec))
