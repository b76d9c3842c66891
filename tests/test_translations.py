"""The Simplified Chinese catalogue: complete, compiled, and used by the admin."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "django.po"
MO_FILE = LC_MESSAGES / "django.mo"

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def read_po(path: Path) -> tuple[dict, list[dict]]:
    """A small .po reader: the header entry and the other entries, each a dict with ``msgid``,
    ``msgid_plural`` (or None), ``msgstr`` ({plural index: text}) and ``fuzzy``.

    Comments, including obsolete ``#~`` entries, are skipped; only the ``#,`` flags are read.
    """
    entries: list[dict] = []
    flags: set[str] = set()
    context = {"text": None}
    target = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            text = ast.literal_eval(line)
        else:
            keyword, _, quoted = line.partition(" ")
            text = ast.literal_eval(quoted)
            if keyword == "msgctxt":
                context = {"text": ""}
                target = (context, "text")
            elif keyword == "msgid":
                entry = {"msgid": "", "msgid_plural": None, "msgstr": {}, "fuzzy": "fuzzy" in flags}
                entry["msgctxt"] = context["text"]
                entries.append(entry)
                flags, context = set(), {"text": None}
                target = (entry, "msgid")
            elif keyword == "msgid_plural":
                entry["msgid_plural"] = ""
                target = (entry, "msgid_plural")
            elif keyword == "msgstr":
                target = (entry["msgstr"], 0)
            elif keyword.startswith("msgstr[") and keyword.endswith("]"):
                target = (entry["msgstr"], int(keyword[len("msgstr[") : -1]))
            else:
                raise ValueError(f"unexpected line in {path}: {raw!r}")
        container, key = target
        container[key] = container.get(key, "") + text
    header = entries.pop(0)
    assert header["msgid"] == "", "the catalogue must start with its header"
    return header, entries


@pytest.fixture(scope="module")
def catalogue():
    return read_po(PO_FILE)


def test_header_is_for_simplified_chinese(catalogue):
    header, _entries = catalogue
    fields = dict(line.split(": ", 1) for line in header["msgstr"][0].splitlines() if ": " in line)
    assert fields["Language"] == "zh_Hans"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"] == "nplurals=1; plural=0;"
    assert not header["fuzzy"]


def test_every_entry_is_translated_and_not_fuzzy(catalogue):
    _header, entries = catalogue
    assert len(entries) > 300
    untranslated = [e["msgid"] for e in entries if not e["msgstr"].get(0) or not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if e["fuzzy"]]
    assert untranslated == []
    assert fuzzy == []


def test_placeholders_are_kept(catalogue):
    _header, entries = catalogue
    wrong = []
    for e in entries:
        expected = sorted(PLACEHOLDER.findall(e["msgid"]))
        if e["msgid_plural"] is not None:
            assert sorted(PLACEHOLDER.findall(e["msgid_plural"])) == expected, e["msgid"]
        for text in e["msgstr"].values():
            if sorted(PLACEHOLDER.findall(text)) != expected:
                wrong.append((e["msgid"], text))
    assert wrong == []


def test_compiled_catalogue_matches_the_po_file(catalogue):
    """The .mo in the repository holds every translation of the .po, as it is now."""
    _header, entries = catalogue
    with MO_FILE.open("rb") as fp:
        compiled = gettext.GNUTranslations(fp)
    stale = []
    for e in entries:
        if e["msgctxt"] is not None:
            got = compiled.pgettext(e["msgctxt"], e["msgid"])
        elif e["msgid_plural"] is None:
            got = compiled.gettext(e["msgid"])
        else:
            got = compiled.ngettext(e["msgid"], e["msgid_plural"], 2)
        if got != e["msgstr"][0]:
            stale.append(e["msgid"])
    assert stale == []


@pytest.mark.django_db
class TestAdminInChinese:
    CHANGELIST = "admin:customers_customer_changelist"

    def test_accept_language_header(self, client, company):
        client.force_login(company.users.admin)
        response = client.get(reverse(self.CHANGELIST), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200
        html = response.content.decode()
        assert '<html lang="zh-hans"' in html
        assert "选择 客户 来修改" in html  # the title, from the model's verbose name
        for text in ("跟进员工", "生命周期阶段", "企业标签", "导出 CSV"):
            assert text in html
        assert "By followed by staff" not in html

    def test_english_stays_english(self, client, company):
        client.force_login(company.users.admin)
        html = client.get(reverse(self.CHANGELIST), HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Select customer to change" in html
        assert "跟进员工" not in html

    def test_language_chosen_with_setlang(self, client, company):
        client.force_login(company.users.admin)
        changelist = reverse(self.CHANGELIST)
        response = client.post(reverse("set_language"), {"language": "zh-hans", "next": changelist})
        assert response.status_code == 302
        assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
        html = client.get(changelist).content.decode()
        assert "选择 客户 来修改" in html
        assert "跟进员工" in html
