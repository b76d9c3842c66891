"""Channel analytics through the real paths: WeChat users scan a live code's QR code in the
sandbox, WeCom's encrypted callbacks reach /wecom/callback/, the handlers write the follows, and
the analytics count them the same day, without waiting for the nightly rollup."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from campaigns.models import Channel, LiveCode
from campaigns.selectors.analytics import channel_analytics
from campaigns.services.analytics import channel_rollup_nightly, local_today
from scrm.sandbox.actions.acquisition import scan_contact_way
from scrm.sandbox.actions.people import customer_deletes_staff, staff_deletes_customer
from scrm.sandbox.clock import clock_reset
from scrm.sandbox.models import SandboxCallback
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_client, wecom_clients_close
from tests.factories import UserFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    clock_reset()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=2, contacts_per_member=0
    )
    yield corp
    sandbox_faults_set()
    wecom_clients_close()


def last_callback_xml() -> str:
    return SandboxCallback.objects.order_by("-id").values_list("xml", flat=True).first()


def test_seven_scans_show_as_seven_adds_today(corp, deliver, client):  # noqa: F811
    code = LiveCode.objects.create(
        name="Poster", channel=Channel.objects.create(state="poster_a", name="Poster")
    )
    way = wecom_client().add_contact_way(type=1, scene=2, user=["user1"], state="poster_a")
    # The nightly rollup has run: today is read live all the same.
    channel_rollup_nightly()

    scanned = []
    for n in range(7):
        scanned.append(
            scan_contact_way(corp.corp_id, {"config_id": way["config_id"], "name": f"Scanner {n}"})
        )
        deliver(last_callback_xml())
    # One customer deletes the staff member, and the staff member deletes another.
    customer_deletes_staff(
        corp.corp_id, {"userid": "user1", "external_userid": scanned[0]["external_userid"]}
    )
    deliver(last_callback_xml())
    staff_deletes_customer(
        corp.corp_id, {"userid": "user1", "external_userid": scanned[1]["external_userid"]}
    )
    deliver(last_callback_xml())

    admin = UserFactory(username="boss", is_superuser=True)
    today = local_today()
    [day] = channel_analytics(user=admin, state="poster_a", first_day=today, last_day=today).days
    assert (day.adds, day.deleted_by_customer, day.deleted_by_staff, day.net, day.live) == (7, 1, 1, 5, True)

    client.force_login(admin)
    page = client.get(reverse("admin:campaigns_channelday_changelist"), {"live_code": code.pk})
    assert page.status_code == 200
    assert page.context["analytics"].days[-1].adds == 7
    body = client.get("/api/v1/channel-analytics/", {"live_code": code.pk}).json()
    assert body["totals"] == {"adds": 7, "deleted_by_customer": 1, "deleted_by_staff": 1, "net": 5}
