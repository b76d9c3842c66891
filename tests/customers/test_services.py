import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, CustomerEvent, Follow, FollowTag
from customers.selectors import tag_labels
from customers.services import (
    customer_note_add,
    customer_tag_ids_refresh,
    customers_tag,
    customers_untag,
    tag_delete,
    tag_group_delete,
    tag_save,
)
from tests.factories import FollowFactory, TagFactory

pytestmark = pytest.mark.django_db


def tag_ids(customer):
    return Customer.objects.get(pk=customer.pk).tag_ids


def test_tagging_a_customer_tags_every_active_follow_and_the_index(company):
    second = FollowFactory(customer=company.ca1, staff=company.sb)
    ended = FollowFactory(
        customer=company.ca1,
        staff__userid="gone",
        status=Follow.Status.DELETED_BY_CUSTOMER,
        status_changed_at=second.added_at,
    )
    changed = customers_tag(customer_ids=[company.ca1.id], tags=[company.silver], by=company.users.marketing)
    assert changed == 1
    assert set(FollowTag.objects.filter(tag=company.silver).values_list("follow_id", flat=True)) >= {
        second.id,
        company.ca1.follows.get(staff=company.sa).id,
    }
    assert not FollowTag.objects.filter(follow=ended).exists()
    assert tag_ids(company.ca1) == sorted([company.gold.id, company.silver.id])
    event = CustomerEvent.objects.get(customer=company.ca1, type=CustomerEvent.Type.TAGGED)
    assert event.payload["tags"] == [{"id": company.silver.id, "name": "银卡"}]
    assert event.payload["by"] == "marketing"


def test_tagging_twice_changes_nothing_the_second_time(company):
    assert customers_tag(customer_ids=[company.ca2.id], tags=[company.gold]) == 1
    assert customers_tag(customer_ids=[company.ca2.id], tags=[company.gold]) == 0
    assert CustomerEvent.objects.filter(customer=company.ca2, type=CustomerEvent.Type.TAGGED).count() == 1


def test_untag_removes_from_follows_and_index(company):
    assert customers_untag(customer_ids=[company.ca1.id, company.ca2.id], tags=[company.gold]) == 1
    assert tag_ids(company.ca1) == []
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.UNTAGGED).count() == 1


def test_a_deleted_tag_cannot_be_put_on_customers(company):
    tag_delete(company.gold)
    with pytest.raises(ValidationError, match="金卡"):
        customers_tag(
            customer_ids=[company.ca2.id], tags=[company.gold.__class__.objects.get(pk=company.gold.pk)]
        )


def test_deleting_a_tag_drops_it_from_every_index(company):
    tag_delete(company.gold)
    assert tag_ids(company.ca1) == []
    assert tag_ids(company.cb1) == [company.silver.id]


def test_deleting_a_group_deletes_its_tags(company):
    tag_group_delete(company.vip_group)
    company.vip_group.refresh_from_db()
    assert company.vip_group.deleted
    assert tag_ids(company.cb1) == []


def test_the_index_forgets_tags_of_ended_follows(company):
    follow = company.ca1.follows.get()
    Follow.objects.filter(pk=follow.pk).update(
        status=Follow.Status.DELETED_BY_STAFF, status_changed_at=follow.added_at
    )
    customer_tag_ids_refresh([company.ca1.id])
    assert tag_ids(company.ca1) == []


def test_tag_names_follow_renames(company):
    assert tag_labels([company.gold.id]) == [{"id": company.gold.id, "group": "会员等级", "name": "金卡"}]
    company.gold.name = "黑金卡"
    tag_save(company.gold)
    assert tag_labels([company.gold.id])[0]["name"] == "黑金卡"


def test_two_live_tags_of_one_group_cannot_share_a_name(company):
    with pytest.raises(ValidationError):
        tag_save(TagFactory.build(group=company.vip_group, name="金卡"))


def test_a_note_is_written_with_its_timeline_entry(company):
    note = customer_note_add(
        customer=company.ca1, body="  Prefers weekend calls  ", author=company.users.guide_a
    )
    assert note.body == "Prefers weekend calls"
    assert note.staff == company.sa
    event = CustomerEvent.objects.get(customer=company.ca1, type=CustomerEvent.Type.NOTE)
    assert event.payload["note_id"] == note.id


def test_an_empty_note_is_refused(company):
    with pytest.raises(ValidationError):
        customer_note_add(customer=company.ca1, body="   ", author=company.users.guide_a)


def test_a_guide_tags_only_their_own_follow_of_a_shared_customer(company):
    colleague_follow = FollowFactory(customer=company.ca2, staff=company.sb)
    customers_tag(customer_ids=[company.ca2.id], tags=[company.silver], by=company.users.guide_a)
    assert FollowTag.objects.filter(follow__customer=company.ca2, tag=company.silver).count() == 1
    assert not FollowTag.objects.filter(follow=colleague_follow).exists()
    # a marketing manager's tagging reaches every active follow
    customers_tag(customer_ids=[company.ca2.id], tags=[company.silver], by=company.users.marketing)
    assert FollowTag.objects.filter(follow=colleague_follow, tag=company.silver).exists()
    # and the guide cannot untag the colleague's follow
    customers_untag(customer_ids=[company.ca2.id], tags=[company.silver], by=company.users.guide_a)
    assert FollowTag.objects.filter(follow=colleague_follow, tag=company.silver).exists()
    assert tag_ids(company.ca2) == [company.silver.id]
