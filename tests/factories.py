"""factory_boy factories for every model the tests build. Deterministic sequences, no randomness."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Customer, CustomerEvent, Follow, FollowTag, Tag, TagGroup
from groups.models import GroupChat, GroupMember
from scrm.org.models import Department, Staff, StaffDepartment


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-123")
    is_staff = True


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    wecom_id = factory.Sequence(lambda n: 1000 + n)
    name = factory.Sequence(lambda n: f"Dept {n}")
    parent = None

    path = factory.LazyAttribute(lambda o: f"{o.parent.path if o.parent else '/'}{o.wecom_id}/")


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Staff
        skip_postgeneration_save = True

    userid = factory.Sequence(lambda n: f"staff{n}")
    name = factory.Sequence(lambda n: f"Staff {n}")
    main_department = factory.SubFactory(DepartmentFactory)

    @factory.post_generation
    def in_main_department(self, create, extracted, **kwargs):
        if create and self.main_department_id:
            StaffDepartment.objects.get_or_create(staff=self, department=self.main_department)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_userid = factory.Sequence(lambda n: f"wm{n:08d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    first_added_at = factory.LazyFunction(timezone.now)


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    customer = factory.SubFactory(CustomerFactory)
    staff = factory.SubFactory(StaffFactory)
    added_at = factory.LazyFunction(timezone.now)
    add_way = Follow.AddWay.QR_CODE


class TagGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TagGroup

    name = factory.Sequence(lambda n: f"Group {n}")
    wecom_id = factory.Sequence(lambda n: f"etGROUP{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    group = factory.SubFactory(TagGroupFactory)
    name = factory.Sequence(lambda n: f"Tag {n}")
    wecom_id = factory.Sequence(lambda n: f"etTAG{n}")


class FollowTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowTag

    follow = factory.SubFactory(FollowFactory)
    tag = factory.SubFactory(TagFactory)


class CustomerEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerEvent

    customer = factory.SubFactory(CustomerFactory)
    type = CustomerEvent.Type.ADDED
    occurred_at = factory.LazyFunction(timezone.now)


class GroupChatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupChat

    chat_id = factory.Sequence(lambda n: f"wr{n:08d}")
    name = factory.Sequence(lambda n: f"Group chat {n}")
    owner = factory.SubFactory(StaffFactory)
    owner_userid = factory.LazyAttribute(lambda o: o.owner.userid if o.owner else "")
    kind = GroupChat.Kind.SERVICE


class GroupMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GroupMember

    group = factory.SubFactory(GroupChatFactory)
    customer = factory.SubFactory(CustomerFactory)
    member_id = factory.LazyAttribute(lambda o: o.customer.external_userid)
    kind = GroupMember.Kind.CUSTOMER
    joined_at = factory.LazyFunction(timezone.now)
