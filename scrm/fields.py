"""Model fields shared by the apps: id arrays, and secrets encrypted at rest."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models


class IdArrayField(models.Field):
    """A set of integer ids kept on the row itself, for fast "has any / all of these" filters.

    PostgreSQL stores it as ``bigint[]`` with a GIN index (see the migration that creates it), so
    a two-tag filter over a million customers is an index lookup, not a join. SQLite, the embedded
    default, stores JSON text and answers the same lookups with ``json_each``. Values are kept
    sorted and distinct; services maintain them, nothing writes them by hand.

    Lookups: ``field__has_all=[1, 2]`` (every id present) and ``field__has_any=[1, 2]``.
    """

    description = "A sorted set of integer ids"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", list)
        kwargs.setdefault("blank", True)
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs.pop("blank", None)
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def db_type(self, connection) -> str:
        return "bigint[]" if connection.vendor == "postgresql" else "text"

    @staticmethod
    def normalize(values: Iterable[int] | None) -> list[int]:
        return sorted({int(v) for v in values or ()})

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        values = self.normalize(value)
        return values if connection.vendor == "postgresql" else json.dumps(values)

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return self.normalize(value)


class _IdArrayLookup(models.Lookup):
    postgres_operator = ""

    def get_prep_lookup(self):
        return IdArrayField.normalize(self.rhs)

    def process_rhs(self, compiler, connection):
        return "", list(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} {self.postgres_operator} %s::bigint[]", [*lhs_params, ids]
        return self.as_json_sql(lhs, lhs_params, ids)

    def as_json_sql(self, lhs: str, lhs_params: list, ids: list[int]) -> tuple[str, list]:
        raise NotImplementedError


@IdArrayField.register_lookup
class HasAll(_IdArrayLookup):
    lookup_name = "has_all"
    postgres_operator = "@>"

    def as_json_sql(self, lhs, lhs_params, ids):
        if not ids:
            return "1 = 1", []
        marks = ", ".join(["%s"] * len(ids))
        sql = f"(SELECT COUNT(*) FROM json_each({lhs}) WHERE json_each.value IN ({marks})) = %s"
        return sql, [*lhs_params, *ids, len(ids)]


@IdArrayField.register_lookup
class HasAny(_IdArrayLookup):
    lookup_name = "has_any"
    postgres_operator = "&&"

    def as_json_sql(self, lhs, lhs_params, ids):
        if not ids:
            return "1 = 0", []
        marks = ", ".join(["%s"] * len(ids))
        return f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value IN ({marks}))", [
            *lhs_params,
            *ids,
        ]


# --- Secrets at rest ------------------------------------------------------------------------------

ENCRYPTED_PREFIX = "enc:v1:"
MIN_KEY_LENGTH = 32
_HKDF_SALT = b"scrm.fields.EncryptedTextField"
_NONCE_SIZE = 12


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured keys. The value is never included."""


@functools.lru_cache(maxsize=8)
def _keyring(configured: tuple[str, ...]) -> tuple[tuple[str, AESGCM], ...]:
    """``(key id, cipher)`` per configured key, the encrypting one first.

    Every key, whatever its form, is stretched to 256 bits with HKDF-SHA256, so any long random
    string will do. The key id (8 hex characters of a digest of the derived key) is stored with
    each value: decryption goes straight to the right key, and a missing key is named.
    """
    ring = []
    for secret in configured:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=b"v1")
        derived = hkdf.derive(secret.encode())
        ring.append((hashlib.sha256(b"key id\x1f" + derived).hexdigest()[:8], AESGCM(derived)))
    return tuple(ring)


def encryption_keys() -> tuple[str, ...]:
    """SCRM_ENCRYPTION_KEYS (first encrypts, all decrypt), else SECRET_KEY and its fallbacks."""
    configured = tuple(k for k in getattr(settings, "SCRM_ENCRYPTION_KEYS", ()) if k)
    if configured:
        short = [n for n, k in enumerate(configured, 1) if len(k) < MIN_KEY_LENGTH]
        if short:
            raise ImproperlyConfigured(
                f"SCRM_ENCRYPTION_KEYS: key {short[0]} is shorter than {MIN_KEY_LENGTH} characters; "
                "use a long random value (python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        return configured
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


def encrypt_text(plaintext: str) -> str:
    """``enc:v1:<key id>:<base64(nonce ‖ AES-256-GCM ciphertext and tag)>`` under the first key."""
    key_id, cipher = _keyring(encryption_keys())[0]
    header = f"{ENCRYPTED_PREFIX}{key_id}:"
    nonce = os.urandom(_NONCE_SIZE)
    sealed = cipher.encrypt(nonce, plaintext.encode(), header.encode())
    return header + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_text(stored: str) -> str:
    """The plaintext of ``stored``; a value without the prefix predates encryption and is returned as is."""
    if not stored.startswith(ENCRYPTED_PREFIX):
        return stored
    key_id, _, data = stored[len(ENCRYPTED_PREFIX) :].partition(":")
    ring = dict(_keyring(encryption_keys()))
    if key_id not in ring:
        raise DecryptionError(
            f"a secret was encrypted with key {key_id!r}, which is not configured: add that key to "
            "SCRM_ENCRYPTION_KEYS (or restore the SECRET_KEY it was derived from to SECRET_KEY_FALLBACKS)"
        )
    header = f"{ENCRYPTED_PREFIX}{key_id}:"
    try:
        raw = base64.urlsafe_b64decode(data.encode())
        return ring[key_id].decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], header.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise DecryptionError(
            f"a secret encrypted with key {key_id!r} does not decrypt: the key configured under that id is "
            "wrong, or the stored value was damaged"
        ) from error


def secret_digest(value: str) -> str:
    """SHA-256 of a secret, hex: what a lookup by secret compares (see ``DigestField``)."""
    return hashlib.sha256(value.encode()).hexdigest()


class EncryptedTextField(models.TextField):
    """Text stored encrypted with AES-256-GCM, readable as plain text in Python.

    For secrets the product must use again (app secrets, webhook signing secrets), not for
    passwords or API keys, which are stored as digests. Keys: ``SCRM_ENCRYPTION_KEYS`` (the first
    encrypts, all decrypt, so a key is rotated by putting the new one first and running
    ``manage.py rotate_encryption_key``); without it, a key derived from ``SECRET_KEY`` (and its
    fallbacks). Each value is ``enc:v1:<key id>:<data>``, with a random nonce, so equal secrets
    differ in the database and cannot be filtered on: pair the field with a ``DigestField``.
    """

    description = "Text encrypted at rest"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt_text(value)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        model = getattr(self, "model", None)
        name = f"{model.__name__}.{self.name}" if model else self.name
        raise FieldError(
            f"{name} is encrypted at rest and cannot be filtered by its value ({lookup_name!r}); "
            "filter on its digest field instead"
        )


class DigestField(models.CharField):
    """The SHA-256 of another field (``source``), set on every save and insert, for lookups by value.

    ``QuerySet.update()`` of the source does not refresh it: write secrets through ``save()`` or
    ``create()``.
    """

    description = "SHA-256 digest of another field"

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs["editable"] = False
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.source)
        digest = secret_digest(value) if value else ""
        setattr(model_instance, self.attname, digest)
        return digest
