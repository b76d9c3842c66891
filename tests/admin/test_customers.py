"""The customer admin: scoping per role, filters, search, bulk tagging, CSV export, the detail page."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, CustomerEvent, CustomerNote
from customers.services import customer_tag_ids_refresh
from tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    FollowFactory,
    FollowTagFactory,
    GroupMemberFactory,
)

from .helpers import (
    action_data,
    change_form_data,
    csv_rows,
    listed,
    listed_names,
    messages_of,
    no_full_count,
    url,
)

pytestmark = pytest.mark.django_db

CUSTOMERS = url("customers.customer")
EXPORT = CUSTOMERS + "export/"

IN_SCOPE = {
    "admin": ["张三", "李四", "王五"],
    "marketing": ["张三", "李四", "王五"],
    "store_manager": ["张三", "李四"],
    "guide_a": ["张三", "李四"],
    "guide_b": ["王五"],
}


def change_url(customer) -> str:
    return url("customers.customer", "change", customer.pk)


# --- Scoping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", IN_SCOPE)
def test_changelist_lists_exactly_the_customers_in_scope(login, who):
    response = login(who).get(CUSTOMERS)
    assert listed_names(response) == sorted(IN_SCOPE[who])
    content = response.content.decode()
    for name in {"张三", "李四", "王五"} - set(IN_SCOPE[who]):
        assert name not in content


def test_a_login_without_a_role_cannot_open_the_list(login):
    assert login("nobody").get(CUSTOMERS).status_code == 403


@pytest.mark.parametrize(
    ("who", "customer"), [("guide_b", "ca1"), ("guide_a", "cb1"), ("store_manager", "cb1")]
)
def test_an_out_of_scope_customer_cannot_be_opened_by_id(login, company, who, customer):
    target = getattr(company, customer)
    response = login(who).get(change_url(target), follow=True)
    assert response.redirect_chain, "an out-of-scope customer must not be shown"
    assert any("doesn’t exist" in m for m in messages_of(response))
    assert target.name not in response.content.decode()


def test_a_post_to_an_out_of_scope_customer_changes_nothing(login, company):
    client = login("guide_b")
    response = client.post(change_url(company.ca1), {"lifecycle_stage": "converted"})
    assert response.status_code == 302
    company.ca1.refresh_from_db()
    assert company.ca1.lifecycle_stage == "new"


def test_a_guide_may_change_the_stage_of_their_own_customer(login, company):
    client = login("guide_a")
    data = change_form_data(client.get(change_url(company.ca1)))
    data["lifecycle_stage"] = "converted"
    response = client.post(change_url(company.ca1), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    company.ca1.refresh_from_db()
    assert company.ca1.lifecycle_stage == "converted"


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", [("sa", "张三"), ("sa", "李四"), ("sb", "王五")]),
        ("store_manager", [("sa", "张三"), ("sa", "李四")]),
        ("guide_a", [("sa", "张三"), ("sa", "李四")]),
        ("guide_b", [("sb", "王五")]),
    ],
)
def test_follow_list_is_scoped(login, who, expected):
    response = login(who).get(url("customers.follow"))
    assert sorted((f.staff.userid, f.customer.name) for f in listed(response)) == expected


def test_timeline_and_notes_lists_are_scoped(login, company):
    CustomerEventFactory(customer=company.ca1, type=CustomerEvent.Type.NOTE, payload={"text": "for A"})
    CustomerEventFactory(customer=company.cb1, type=CustomerEvent.Type.NOTE, payload={"text": "for B"})
    CustomerNote.objects.create(customer=company.ca1, body="note on A")
    CustomerNote.objects.create(customer=company.cb1, body="note on B")
    client = login("guide_a")
    assert [e.customer for e in listed(client.get(url("customers.customerevent")))] == [company.ca1]
    assert [n.body for n in listed(client.get(url("customers.customernote")))] == ["note on A"]
    client = login("admin")
    assert len(listed(client.get(url("customers.customerevent")))) == 2


# --- Filters and search ---------------------------------------------------------------------------


def names_for(client, query: str) -> list[str]:
    return listed_names(client.get(f"{CUSTOMERS}?{query}"))


def test_tag_filters_any_all_and_none(login, company):
    FollowTagFactory(follow=company.ca1.follows.get(), tag=company.silver)
    customer_tag_ids_refresh([company.ca1.id])  # 张三 now has both tags, 王五 silver, 李四 none
    client = login("admin")
    gold, silver = company.gold.pk, company.silver.pk
    assert names_for(client, f"tags_any={gold}&tags_any={silver}") == ["张三", "王五"]
    assert names_for(client, f"tags_all={gold}&tags_all={silver}") == ["张三"]
    assert names_for(client, f"tags_all={silver}") == ["张三", "王五"]
    assert names_for(client, f"tags_none={gold}") == ["李四", "王五"]
    assert names_for(client, f"tags_any={gold},{silver}") == ["张三", "王五"]
    # combined with the scope of the reader
    assert names_for(login("guide_b"), f"tags_any={gold}&tags_any={silver}") == ["王五"]


@pytest.mark.parametrize("value", ["abc", "²", str(2**70)])
def test_tag_filter_with_a_bad_id_is_rejected(login, value):
    response = login("admin").get(f"{CUSTOMERS}?tags_any={value}")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_department_filter_with_a_bad_id_lists_nothing(login):
    assert listed(login("admin").get(f"{CUSTOMERS}?department={2**70}")) == []


def test_staff_department_and_channel_filters(login, company):
    client = login("admin")
    assert names_for(client, f"staff={company.sa.pk}") == ["张三", "李四"]
    assert names_for(client, f"department={company.west.pk}") == ["王五"]
    assert names_for(client, f"department={company.east.pk}") == ["张三", "李四"]
    assert names_for(client, "channel=poster_1") == ["张三"]
    # a store manager cannot reach outside their subtree through a filter
    manager = login("store_manager")
    assert names_for(manager, f"department={company.store_b.pk}") == []
    assert names_for(manager, f"staff={company.sb.pk}") == []


def test_date_gender_and_stage_filters(login, company):
    Customer.objects.filter(pk=company.ca2.pk).update(
        first_added_at=timezone.make_aware(datetime(2024, 1, 10, 23, 30)), gender=Customer.Gender.FEMALE
    )
    Customer.objects.filter(pk=company.cb1.pk).update(lifecycle_stage="converted")
    client = login("admin")
    assert names_for(client, "first_added_at_from=2024-01-10&first_added_at_to=2024-01-10") == ["李四"]
    assert names_for(client, "first_added_at_from=2024-01-11") == ["张三", "王五"]
    assert names_for(client, "gender__exact=2") == ["李四"]
    assert names_for(client, "lifecycle_stage__exact=converted") == ["王五"]
    assert names_for(client, "lifecycle_stage__exact=converted&lifecycle_stage__exact=new") == [
        "张三",
        "李四",
        "王五",
    ]


def test_search_by_name_prefix_and_by_whole_ids(login, company):
    long_id = "wmAbCdEfGhIjKlMnOpQrStUvWxYz012345"
    CustomerFactory(name="赵六", external_userid=long_id, unionid="oUNIONid0123456789abcdefghij")
    client = login("admin")
    assert names_for(client, "q=张") == ["张三"]
    assert names_for(client, f"q={long_id}") == ["赵六"]
    assert names_for(client, "q=oUNIONid0123456789abcdefghij") == ["赵六"]
    assert names_for(client, "q=三") == []  # a prefix, not a "contains" scan
    # search stays inside the scope
    assert names_for(login("guide_b"), "q=张") == []


# --- Large-table behaviour ------------------------------------------------------------------------


def add_customers(company, count: int) -> None:
    for _ in range(count):
        follow = FollowFactory(staff=company.sa)
        FollowTagFactory(follow=follow, tag=company.gold)
        GroupMemberFactory(group=company.ga, customer=follow.customer)
    customer_tag_ids_refresh(Customer.objects.values_list("id", flat=True))


@pytest.mark.parametrize("who", ["admin", "store_manager", "guide_a"])
def test_changelist_query_count_does_not_grow_with_the_number_of_customers(
    login, company, who, django_assert_max_num_queries
):
    client = login(who)

    def queries_for_page() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{CUSTOMERS}?tags_any={company.gold.pk}")
        assert response.status_code == 200
        return len(captured), len(listed(response))

    add_customers(company, 5)
    queries_for_page()  # warms the tag-name cache, which is shared by every page
    few, shown_few = queries_for_page()
    add_customers(company, 35)
    many, shown_many = queries_for_page()
    assert (shown_few, shown_many) == (6, 41)
    assert few == many
    with django_assert_max_num_queries(16):
        client.get(CUSTOMERS)


def test_changelist_never_runs_a_full_count(login, company, settings):
    settings.SCRM_ADMIN_COUNT_LIMIT = 2
    client = login("admin")
    for query in ("", f"?tags_any={company.gold.pk}&tags_any={company.silver.pk}", "?q=张"):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(CUSTOMERS + query)
        assert response.status_code == 200
        assert no_full_count(captured.captured_queries), [q["sql"] for q in captured.captured_queries]
    response = client.get(CUSTOMERS)
    assert "2+ customers" in response.content.decode()
    assert len(listed(response)) == 3


def test_pages_past_a_capped_count_can_still_be_walked(login, company, settings):
    from django.contrib import admin

    settings.SCRM_ADMIN_COUNT_LIMIT = 2
    customer_admin = admin.site.get_model_admin(Customer)
    original = customer_admin.list_per_page
    customer_admin.list_per_page = 1
    try:
        client = login("admin")
        pages = [listed_names(client.get(f"{CUSTOMERS}?p={page}")) for page in (1, 2, 3)]
        assert sorted(name for page in pages for name in page) == ["张三", "李四", "王五"]
        assert listed(client.get(f"{CUSTOMERS}?p=4")) == []  # an honest empty page, not an error
        response = client.get(f"{CUSTOMERS}?all=")
        assert len(listed(response)) == 1  # no "show all" on a list that was not counted
        assert 'href="?all="' not in response.content.decode()
    finally:
        customer_admin.list_per_page = original


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's")
def test_unfiltered_list_on_postgresql_uses_the_planner_estimate(login, company, settings):
    settings.SCRM_ADMIN_COUNT_LIMIT = 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    with CaptureQueriesContext(connection) as captured:
        response = login("admin").get(CUSTOMERS)
    assert "about 3 customers" in response.content.decode()
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


# --- Bulk tagging ---------------------------------------------------------------------------------


def test_add_tags_asks_for_the_tags_then_tags_and_writes_the_timeline(login, company):
    client = login("admin")
    step1 = client.post(CUSTOMERS, action_data("add_tags", company.ca1.pk, company.ca2.pk, index="0"))
    assert step1.status_code == 200
    assert "Choose the tags to add to 2 customers." in step1.content.decode()
    assert "银卡" in step1.content.decode()

    step2 = client.post(
        CUSTOMERS,
        action_data("add_tags", company.ca1.pk, company.ca2.pk, apply="1", tags=[company.silver.pk]),
    )
    assert step2.status_code == 302
    for customer in (company.ca1, company.ca2):
        customer.refresh_from_db()
        assert company.silver.pk in customer.tag_ids
    events = CustomerEvent.objects.filter(type=CustomerEvent.Type.TAGGED)
    assert sorted(e.customer_id for e in events) == sorted([company.ca1.pk, company.ca2.pk])
    assert {e.source for e in events} == {CustomerEvent.Source.ADMIN}
    assert events[0].payload["by"] == "admin1"
    assert any("Tagged 2 customers with 银卡" in m for m in messages_of(step2))
    company.cb1.refresh_from_db()
    assert company.cb1.tag_ids == [company.silver.pk]  # untouched, it already had it


def test_remove_tags(login, company):
    client = login("admin")
    client.post(CUSTOMERS, action_data("remove_tags", company.ca1.pk, apply="1", tags=[company.gold.pk]))
    company.ca1.refresh_from_db()
    assert company.ca1.tag_ids == []
    event = CustomerEvent.objects.get(type=CustomerEvent.Type.UNTAGGED)
    assert event.customer == company.ca1
    assert event.payload["tags"] == [{"id": company.gold.pk, "name": "金卡"}]


def test_large_selections_are_tagged_in_background_batches(
    login, company, settings, django_capture_on_commit_callbacks
):
    from scrm.celery import app

    settings.SCRM_ADMIN_INLINE_BULK_LIMIT = 1
    client = login("admin")
    app.conf.task_always_eager = True  # the batches run here instead of on a worker
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post(
                CUSTOMERS,
                action_data("add_tags", company.ca1.pk, company.ca2.pk, apply="1", tags=[company.silver.pk]),
            )
    finally:
        app.conf.task_always_eager = False
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert any("being changed in the background in 1 batch;" in m for m in messages_of(response))
    company.ca2.refresh_from_db()
    assert company.silver.pk in company.ca2.tag_ids


def test_tag_actions_on_all_pages_follow_the_filter(login, company):
    client = login("admin")
    response = client.post(
        f"{CUSTOMERS}?tags_any={company.gold.pk}",
        action_data("add_tags", company.ca1.pk, select_across=True, apply="1", tags=[company.silver.pk]),
    )
    assert response.status_code == 302
    assert sorted(CustomerEvent.objects.values_list("customer__name", flat=True)) == ["张三"]


def test_a_guide_cannot_tag_a_customer_outside_their_scope(login, company):
    client = login("guide_a")
    client.post(CUSTOMERS, action_data("add_tags", company.cb1.pk, apply="1", tags=[company.gold.pk]))
    company.cb1.refresh_from_db()
    assert company.gold.pk not in company.cb1.tag_ids
    assert not CustomerEvent.objects.exists()


def test_bulk_actions_refuse_more_than_the_limit(login, company, settings):
    settings.SCRM_ADMIN_BULK_ACTION_LIMIT = 2
    client = login("admin")
    response = client.post(
        CUSTOMERS,
        action_data("add_tags", company.ca1.pk, select_across=True, apply="1", tags=[company.silver.pk]),
    )
    assert any("More than 2 customers" in m for m in messages_of(response))
    assert not CustomerEvent.objects.exists()


# --- CSV export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "store_manager", "guide_b"])
def test_export_streams_the_customers_in_scope(login, who):
    response = login(who).get(EXPORT)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0][:3] == ["id", "external userid", "name"]
    assert sorted(row[2] for row in rows[1:]) == sorted(IN_SCOPE[who])


def test_export_follows_the_filters_and_shows_tags_staff_and_channels(login, company):
    rows = csv_rows(login("admin").get(f"{EXPORT}?tags_any={company.gold.pk}"))
    assert len(rows) == 2
    header, row = rows
    record = dict(zip(header, row, strict=True))
    assert record["name"] == "张三"
    assert record["corporate tags"] == "会员等级/金卡"
    assert record["followed by"] == "Guide A"
    assert record["channels"] == "poster_1"


def test_export_selected_action(login, company):
    response = login("admin").post(CUSTOMERS, action_data("export_selected_csv", company.cb1.pk, index="0"))
    assert [row[2] for row in csv_rows(response)[1:]] == ["王五"]


def test_export_defuses_spreadsheet_formulas(login, company):
    Customer.objects.filter(pk=company.ca1.pk).update(name="=HYPERLINK(1)")
    rows = csv_rows(login("admin").get(EXPORT))
    assert "'=HYPERLINK(1)" in [row[2] for row in rows]


def test_export_button_carries_the_current_filters(login, company):
    response = login("admin").get(f"{CUSTOMERS}?tags_any={company.gold.pk}")
    assert f'href="{EXPORT}?tags_any={company.gold.pk}"' in response.content.decode()


# --- The customer page ----------------------------------------------------------------------------


def test_customer_page_shows_follows_tags_groups_timeline_and_notes(login, company):
    GroupMemberFactory(group=company.gb, customer=company.ca1)  # a group outside guide A's scope
    CustomerEventFactory(
        customer=company.ca1,
        type=CustomerEvent.Type.TAGGED,
        staff=company.sa,
        payload={"tags": [{"id": company.gold.pk, "name": "金卡"}]},
    )
    CustomerEventFactory(
        customer=company.ca2, type=CustomerEvent.Type.ORDER, payload={"text": "someone else"}
    )
    CustomerNote.objects.create(customer=company.ca1, body="Prefers weekend fittings")

    response = login("guide_a").get(change_url(company.ca1))
    assert response.status_code == 200
    content = response.content.decode()
    for expected in (
        "张三",
        "Guide A",
        "scanned a QR code",
        "poster_1",
        "会员等级: 金卡",
        "Store A VIPs",
        "Timeline",
        "tagged",
        "Prefers weekend fittings",
    ):
        assert expected in content, expected
    assert "Store B fans" not in content
    assert "someone else" not in content


def test_customer_page_query_count_is_fixed(login, company, django_assert_max_num_queries):
    client = login("guide_a")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(change_url(company.ca1)).status_code == 200
        return len(captured)

    CustomerEventFactory(customer=company.ca1)
    CustomerNote.objects.create(customer=company.ca1, body="one")
    queries()  # warms the process-wide caches (content types, tag names)
    few = queries()
    for i in range(30):
        CustomerEventFactory(customer=company.ca1, type=CustomerEvent.Type.MESSAGE_RECEIVED)
        CustomerNote.objects.create(customer=company.ca1, body=f"note {i}")
    assert queries() == few
    with django_assert_max_num_queries(25):
        client.get(change_url(company.ca1))


def test_a_note_written_on_the_customer_page_goes_through_the_service(login, company):
    client = login("guide_a")
    data = change_form_data(client.get(change_url(company.ca1)))
    data["notes-0-body"] = "Asked about the autumn collection"
    response = client.post(change_url(company.ca1), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    note = CustomerNote.objects.get(customer=company.ca1)
    assert (note.body, note.author, note.staff) == (
        "Asked about the autumn collection",
        company.users.guide_a,
        company.sa,
    )
    event = CustomerEvent.objects.get(customer=company.ca1, type=CustomerEvent.Type.NOTE)
    assert event.payload["text"] == "Asked about the autumn collection"


def test_notes_added_from_the_notes_admin_go_through_the_service_and_stay_in_scope(login, company):
    client = login("guide_a")
    response = client.post(
        url("customers.customernote", "add"), {"customer": company.ca2.pk, "body": "Called back"}
    )
    assert response.status_code == 302
    assert CustomerEvent.objects.filter(customer=company.ca2, type=CustomerEvent.Type.NOTE).exists()
    response = client.post(
        url("customers.customernote", "add"), {"customer": company.cb1.pk, "body": "Sneaky"}
    )
    assert response.status_code == 200  # the form refuses a customer outside the scope
    assert not CustomerNote.objects.filter(customer=company.cb1).exists()


def test_customers_cannot_be_added_or_deleted_in_the_admin(login, company):
    client = login("admin")
    assert client.get(url("customers.customer", "add")).status_code == 403
    assert client.get(url("customers.customer", "delete", company.ca1.pk)).status_code == 403
