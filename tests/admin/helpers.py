"""Helpers for driving the admin with the test client."""

from __future__ import annotations

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse


def url(model: str, view: str = "changelist", *args) -> str:
    """``url("customers.customer", "change", 3)`` → the admin URL."""
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


def listed(response) -> list:
    """The rows a changelist page shows."""
    assert response.status_code == 200, response.status_code
    return list(response.context["cl"].result_list)


def listed_names(response) -> list[str]:
    return sorted(str(obj) for obj in listed(response))


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def action_data(action: str, *pks, select_across: bool = False, **extra) -> dict:
    return {
        "action": action,
        ACTION_CHECKBOX_NAME: [str(pk) for pk in pks],
        "select_across": "1" if select_across else "0",
        **extra,
    }


def change_form_data(response) -> dict:
    """The POST data a browser would send back from a change page, inline formsets included."""
    data = {}
    adminform = response.context["adminform"]
    for name in adminform.form.fields:
        value = adminform.form[name].value()
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for form in formset.forms:
            for name in form.fields:
                value = form[name].value()
                if value not in (None, ""):
                    data[form.add_prefix(name)] = value
    return data


def csv_rows(response) -> list[list[str]]:
    import csv
    import io

    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff"), "CSV must start with a BOM for Excel"
    return list(csv.reader(io.StringIO(body[1:])))


def no_full_count(queries) -> bool:
    """True when every COUNT the page ran was bounded by a LIMIT."""
    counts = [q["sql"] for q in queries if re.search(r"\bCOUNT\(", q["sql"], re.I)]
    return all(re.search(r"\bLIMIT\b", sql, re.I) for sql in counts)
