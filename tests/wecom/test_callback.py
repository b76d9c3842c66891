"""The callback endpoint through Django's test client, with real encrypted bodies (QUALITY.md R1, R2)."""

from __future__ import annotations

import time

import pytest

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.models import CallbackInbox

from .conftest import callback_url, contact_xml, envelope, our_crypto

pytestmark = pytest.mark.django_db

A_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
A_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
A_CORP = "ww1436e0e65a779aee"
A2_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNs"
    "hw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh"
    "010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNf"
    "SsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><ToUserName>{corp}</ToUserName><Event>&lol3;</Event><Encrypt>{encrypt}</Encrypt></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>{corp}</ToUserName><Event>&xxe;</Event><Encrypt>{encrypt}</Encrypt></xml>"
)


# --- URL verification -----------------------------------------------------------------------------


def test_url_verification_answers_the_plaintext_only(client):
    encrypt, signature, timestamp, nonce = our_crypto().encrypt("5927782489442352469")
    response = client.get(
        callback_url(msg_signature=signature, timestamp=timestamp, nonce=nonce, echostr=encrypt)
    )
    assert response.status_code == 200
    assert response.content == b"5927782489442352469"
    assert response["Content-Type"].startswith("text/plain")


def test_url_verification_with_the_official_vector(client, settings):
    settings.WECOM_TOKEN, settings.WECOM_AES_KEY, settings.WECOM_CORP_ID = A_TOKEN, A_KEY, A_CORP
    echostr = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    params = {"msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", "timestamp": "1476416373"}
    response = client.get(callback_url(**params, nonce="47744683", echostr=echostr))
    assert response.content == b"1288432023552776189"
    # "+" turned into a space by a second URL decoding is put back.
    response = client.get(callback_url(**params, nonce="47744683", echostr=echostr.replace("+", " ")))
    assert response.content == b"1288432023552776189"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"msg_signature": "0" * 40}, 403),
        ({"echostr": ""}, 400),
        ({"nonce": ""}, 400),
        ({"echostr": "abc"}, 403),
    ],
)
def test_url_verification_refusals(client, change, status):
    encrypt, signature, timestamp, nonce = our_crypto().encrypt("123")
    params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": encrypt} | change
    assert client.get(callback_url(**params)).status_code == status


# --- Events ---------------------------------------------------------------------------------------


def test_an_event_delivered_three_times_is_stored_and_processed_once(deliver, handled):
    xml = contact_xml()
    responses = [deliver(xml) for _ in range(3)]
    assert [(r.status_code, r.content) for r in responses] == [(200, b"success")] * 3
    row = CallbackInbox.objects.get()
    assert (row.event, row.change_type, row.status, row.attempts) == (
        "change_external_contact",
        "add_external_contact",
        CallbackInbox.Status.DONE,
        1,
    )
    assert row.xml == xml
    assert row.payload["state"] == "ad_campaign_7"
    assert row.processed_at is not None
    assert handled == {("add_external_contact", "alice", "wmAAAA"): 1}


def test_two_customers_adding_the_same_staff_in_the_same_second_are_both_kept(deliver, handled):
    now = int(time.time())
    deliver(contact_xml(external="wmAAAA", create_time=now))
    deliver(contact_xml(external="wmBBBB", create_time=now))
    assert CallbackInbox.objects.count() == 2
    assert set(CallbackInbox.objects.values_list("status", flat=True)) == {CallbackInbox.Status.DONE}
    assert handled == {
        ("add_external_contact", "alice", "wmAAAA"): 1,
        ("add_external_contact", "alice", "wmBBBB"): 1,
    }


def test_the_official_post_vector_is_accepted(
    client, settings, django_capture_on_commit_callbacks, eager_celery
):
    settings.WECOM_TOKEN, settings.WECOM_AES_KEY, settings.WECOM_CORP_ID = A_TOKEN, A_KEY, A_CORP
    settings.WECOM_CALLBACK_MAX_SKEW = 10**10  # the vector is from 2016
    params = {"msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "timestamp": "1476422779"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            callback_url(**params, nonce="1597212914"),
            data=envelope(A2_ENCRYPT, A_CORP),
            content_type="text/xml",
        )
    assert response.content == b"success"
    row = CallbackInbox.objects.get()
    assert (row.event, row.payload["fields"]["Content"], row.status) == (
        "text",
        "你好",
        CallbackInbox.Status.DONE,
    )


# --- Hostile and broken input: a 4xx, nothing stored, no handler run ------------------------------


def _hostile_cases():
    other = "wwsomeoneelse000001"
    return {
        "forged signature": ({"signature": "0" * 40}, 403),
        "stale timestamp": ({"timestamp": -305}, 403),
        "timestamp from the future": ({"timestamp": +305}, 403),
        "malformed envelope": ({"body": "<xml><Encrypt>abc</Encrypt>"}, 400),
        "envelope without Encrypt": ({"body": "<xml><ToUserName>x</ToUserName></xml>"}, 400),
        "oversized body": ({"body": "<xml>" + "a" * (64 * 1024) + "</xml>"}, 413),
        "wrong corp in the envelope": ({"corp": other}, 403),
        "wrong corp in the frame": ({"crypto": "other receive id"}, 403),
        "encrypted with another key": ({"crypto": "other key"}, 403),
    }


HOSTILE = _hostile_cases()


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_is_refused_and_nothing_is_stored(deliver, handled, case):
    bend, status = HOSTILE[case]
    bend = dict(bend)
    if "timestamp" in bend:  # seconds from now, taken when the test runs
        bend["timestamp"] += int(time.time())
    if bend.get("crypto") == "other receive id":
        bend["crypto"] = our_crypto("wwsomeoneelse000001")
    elif bend.get("crypto") == "other key":
        from django.conf import settings

        bend["crypto"] = CallbackCrypto("OtherToken", A_KEY, settings.WECOM_CORP_ID)
    response = deliver(contact_xml(), **bend)
    assert response.status_code == status, response.content
    assert len(response.content) < 100
    assert CallbackInbox.objects.count() == 0
    assert not handled


@pytest.mark.parametrize(
    "template", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion laughs", "external entity"]
)
def test_entity_attacks_in_the_envelope_are_refused(deliver, handled, settings, template):
    encrypt, signature, timestamp, nonce = our_crypto().encrypt(contact_xml())
    body = template.format(corp=settings.WECOM_CORP_ID, encrypt=encrypt)
    response = deliver(contact_xml(), body=body)
    assert response.status_code == 400
    assert CallbackInbox.objects.count() == 0
    assert not handled


@pytest.mark.parametrize(
    "inner",
    [
        BILLION_LAUGHS.replace("<Encrypt>{encrypt}</Encrypt>", ""),
        EXTERNAL_ENTITY.replace("<Encrypt>{encrypt}</Encrypt>", ""),
        "<xml><Event>change_external_contact</Event>",
        "<xml><ToUserName>{corp}</ToUserName></xml>",
    ],
    ids=["billion laughs", "external entity", "malformed", "not an event"],
)
def test_validly_signed_but_bad_inner_xml_is_refused(deliver, handled, settings, inner):
    response = deliver(inner.format(corp=settings.WECOM_CORP_ID))
    assert response.status_code == 400
    assert CallbackInbox.objects.count() == 0
    assert not handled


def test_wrong_corp_inside_the_event_is_refused(deliver, handled):
    response = deliver(contact_xml(corp="wwsomeoneelse000001"))
    assert response.status_code == 403
    assert CallbackInbox.objects.count() == 0


@pytest.mark.parametrize("missing", ["msg_signature", "timestamp", "nonce"])
def test_missing_parameters(client, missing):
    encrypt, signature, timestamp, nonce = our_crypto().encrypt(contact_xml())
    params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    del params[missing]
    response = client.post(callback_url(**params), data=envelope(encrypt), content_type="text/xml")
    assert response.status_code == 400
    assert CallbackInbox.objects.count() == 0


def test_other_methods_are_refused(client):
    assert client.put(callback_url(msg_signature="a", timestamp="1", nonce="n")).status_code == 405


def test_no_session_or_csrf_needed(db, settings):
    from django.test import Client

    encrypt, signature, timestamp, nonce = our_crypto().encrypt(contact_xml())
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(
        callback_url(msg_signature=signature, timestamp=timestamp, nonce=nonce),
        data=envelope(encrypt),
        content_type="text/xml",
    )
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
