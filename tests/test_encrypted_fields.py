"""Secrets at rest: EncryptedTextField and DigestField on the sandbox's app secrets."""

from __future__ import annotations

import importlib
import io
import logging

import pytest
from django.apps import apps
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from scrm.fields import ENCRYPTED_PREFIX, DecryptionError, decrypt_text, encrypt_text, secret_digest
from scrm.sandbox.models import SandboxApp
from scrm.sandbox.services import sandbox_corp_create

pytestmark = pytest.mark.django_db

OLD_KEY = "old-key-" + "o" * 40
NEW_KEY = "new-key-" + "n" * 40
SECRET = "app-secret-Zx81kQm2VtL0pYw7"
CORP = "wwsecretsattest0001"


def stored_secret(app_id: int) -> str:
    """The column as the database holds it, past the field."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM sb_app WHERE id = %s", [app_id])
        return cursor.fetchone()[0]


def make_app(secret: str = SECRET, **kwargs) -> SandboxApp:
    return SandboxApp.objects.create(corp_id=CORP, name="app", secret=secret, **kwargs)


def test_the_secret_is_stored_encrypted_and_read_back_in_clear():
    app = make_app()
    raw = stored_secret(app.pk)
    assert raw.startswith(ENCRYPTED_PREFIX) and SECRET not in raw
    assert SandboxApp.objects.get(pk=app.pk).secret == SECRET
    assert app.secret_digest == secret_digest(SECRET) == SandboxApp.objects.get(pk=app.pk).secret_digest


def test_equal_secrets_encrypt_differently():
    one, two = encrypt_text(SECRET), encrypt_text(SECRET)
    assert one != two and decrypt_text(one) == decrypt_text(two) == SECRET


def test_unicode_and_empty_values():
    app = make_app(secret="企业微信-秘密-🔑")
    assert SandboxApp.objects.get(pk=app.pk).secret == "企业微信-秘密-🔑"
    empty = SandboxApp.objects.create(corp_id=CORP, name="empty", secret="")
    assert stored_secret(empty.pk) == "" and empty.secret_digest == ""


def test_gettoken_finds_the_app_by_its_digest(client):
    corp = sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=1)
    url = "/sandbox/cgi-bin/gettoken"
    good = client.get(url, {"corpid": CORP, "corpsecret": corp.contact_secret}).json()
    assert good["errcode"] == 0 and good["access_token"]
    wrong = client.get(url, {"corpid": CORP, "corpsecret": SECRET + "x"}).json()
    assert wrong["errcode"] == 40001


def test_the_same_secret_twice_in_one_corp_is_refused():
    from django.db import IntegrityError, transaction

    make_app()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_app()


def test_filtering_by_the_encrypted_value_is_refused_with_a_pointer_to_the_digest():
    with pytest.raises(FieldError, match="digest"):
        list(SandboxApp.objects.filter(secret=SECRET))
    assert SandboxApp.objects.filter(secret__isnull=True).count() == 0


def test_rotation_first_key_encrypts_all_keys_decrypt():
    with override_settings(SCRM_ENCRYPTION_KEYS=[OLD_KEY]):
        app = make_app()
        under_old = stored_secret(app.pk)
    with override_settings(SCRM_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert SandboxApp.objects.get(pk=app.pk).secret == SECRET
        out = io.StringIO()
        call_command("rotate_encryption_key", stdout=out)
        assert "sandbox.SandboxApp: 1 rows re-encrypted" in out.getvalue()
        under_new = stored_secret(app.pk)
    assert under_new != under_old and under_new.split(":")[2] != under_old.split(":")[2]
    with override_settings(SCRM_ENCRYPTION_KEYS=[NEW_KEY]):
        assert SandboxApp.objects.get(pk=app.pk).secret == SECRET
        assert SandboxApp.objects.get(pk=app.pk).secret_digest == secret_digest(SECRET)


def test_a_missing_key_is_named_and_the_secret_never_shown():
    with override_settings(SCRM_ENCRYPTION_KEYS=[OLD_KEY]):
        app = make_app()
    with override_settings(SCRM_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(DecryptionError) as caught:
        SandboxApp.objects.get(pk=app.pk)
    message = str(caught.value)
    assert "not configured" in message and "SCRM_ENCRYPTION_KEYS" in message
    assert SECRET not in message and stored_secret(app.pk) not in message


def test_a_damaged_value_or_a_wrong_key_under_the_same_id_is_a_clear_error():
    raw = encrypt_text(SECRET)
    damaged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError, match="does not decrypt"):
        decrypt_text(damaged)


def test_the_default_key_comes_from_secret_key_and_survives_its_rotation():
    with override_settings(SCRM_ENCRYPTION_KEYS=[], SECRET_KEY="first-secret-key-" + "f" * 40):
        app = make_app()
    with override_settings(
        SCRM_ENCRYPTION_KEYS=[],
        SECRET_KEY="second-secret-key-" + "s" * 40,
        SECRET_KEY_FALLBACKS=["first-secret-key-" + "f" * 40],
    ):
        assert SandboxApp.objects.get(pk=app.pk).secret == SECRET
    with (
        override_settings(SCRM_ENCRYPTION_KEYS=[], SECRET_KEY="second-secret-key-" + "s" * 40),
        pytest.raises(DecryptionError),
    ):
        SandboxApp.objects.get(pk=app.pk)


def test_short_keys_are_refused():
    with override_settings(SCRM_ENCRYPTION_KEYS=["too-short"]), pytest.raises(ImproperlyConfigured):
        encrypt_text(SECRET)


def test_plain_text_from_before_the_field_is_read_then_encrypted_by_the_migration_and_rotation():
    app = make_app()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sb_app SET secret = %s, secret_digest = '' WHERE id = %s", [SECRET, app.pk])
    assert SandboxApp.objects.get(pk=app.pk).secret == SECRET

    migration = importlib.import_module("scrm.sandbox.migrations.0005_secrets")
    migration.encrypt_existing(apps, connection.schema_editor())
    assert stored_secret(app.pk).startswith(ENCRYPTED_PREFIX)
    assert SandboxApp.objects.get(pk=app.pk).secret_digest == secret_digest(SECRET)

    migration.decrypt_existing(apps, connection.schema_editor())
    assert stored_secret(app.pk) == SECRET


def test_secrets_stay_out_of_the_logs(client, caplog):
    corp = sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=1)
    with caplog.at_level(logging.DEBUG):
        client.get("/sandbox/cgi-bin/gettoken", {"corpid": CORP, "corpsecret": corp.contact_secret})
        SandboxApp.objects.get(corp_id=CORP, secret_digest=secret_digest(SECRET)).save()
    assert SECRET not in caplog.text
