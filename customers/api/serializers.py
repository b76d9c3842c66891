from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from customers.models import Customer, CustomerEvent, CustomerNote, Follow, Tag, TagGroup
from customers.selectors import (
    customer_list,
    follows_in_scope,
    tag_group_list,
    tag_labels,
    tag_list,
    tag_names,
)
from scrm.api.serializers import (
    DetailUrlField,
    ModelSerializer,
    NestedPrimaryKeyRelatedField,
    SiteDateTimeField,
    detail_url,
)
from scrm.org.api.serializers import StaffBriefSerializer

BULK_TAG_MAX_CUSTOMERS = 1000
BULK_TAG_MAX_TAGS = 100


class TagLabelSerializer(serializers.Serializer):
    """A corporate tag as customer lists show it, read from the tag-name cache."""

    id = serializers.IntegerField()
    group = serializers.CharField(help_text="Name of the tag group.")
    name = serializers.CharField()


def _tag_names(context: dict) -> dict:
    """The tag-name map, read from the cache once per response (the context is shared by the rows)."""
    if "_tag_names" not in context:
        context["_tag_names"] = tag_names()
    return context["_tag_names"]


# --- Tags -----------------------------------------------------------------------------------------


class TagGroupBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:tag-group-detail")

    class Meta:
        model = TagGroup
        fields = ["id", "url", "name"]
        read_only_fields = fields


class TagBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:tag-detail")

    class Meta:
        model = Tag
        fields = ["id", "url", "name"]
        read_only_fields = fields


class TagGroupSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:tag-group-detail")
    name = serializers.CharField(
        max_length=30,
        validators=[
            UniqueValidator(
                TagGroup.objects.filter(deleted=False),
                message=gettext_lazy("A tag group with this name exists."),
            )
        ],
    )
    tags = TagBriefSerializer(many=True, read_only=True, help_text="Live tags of the group.")

    class Meta:
        model = TagGroup
        fields = ["id", "url", "wecom_id", "name", "order", "tags", "created_at", "updated_at"]
        read_only_fields = ["wecom_id", "created_at", "updated_at"]


class TagSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:tag-detail")
    group = NestedPrimaryKeyRelatedField(TagGroupBriefSerializer, queryset=tag_group_list())

    class Meta:
        model = Tag
        fields = ["id", "url", "wecom_id", "group", "name", "order", "created_at", "updated_at"]
        read_only_fields = ["wecom_id", "created_at", "updated_at"]

    def validate_group(self, group: TagGroup) -> TagGroup:
        if self.instance is not None and group.pk != self.instance.group_id:
            raise serializers.ValidationError(_("A tag cannot move to another group."))
        return group

    def validate(self, attrs):
        # Live names are unique per group (deleted tags keep theirs, as WeCom keeps their ids).
        group = attrs.get("group", getattr(self.instance, "group", None))
        name = attrs.get("name", getattr(self.instance, "name", None))
        clashes = tag_list().filter(group=group, name=name)
        if self.instance is not None:
            clashes = clashes.exclude(pk=self.instance.pk)
        if clashes.exists():
            raise serializers.ValidationError({"name": [_("The group already has a tag with this name.")]})
        return attrs


# --- Customers and follows ------------------------------------------------------------------------


class CustomerBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:customer-detail")

    class Meta:
        model = Customer
        fields = ["id", "url", "external_userid", "name"]
        read_only_fields = fields


class FollowBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:follow-detail")
    staff = StaffBriefSerializer(read_only=True)

    class Meta:
        model = Follow
        fields = ["id", "url", "staff", "added_at", "state"]
        read_only_fields = fields


def follow_briefs(context: dict, customer_ids: list[int]) -> dict[int, list[dict]]:
    """``{customer id: [brief follow, …]}`` for a page of customers, in one query of plain values.

    The same shape as ``FollowBriefSerializer`` gives, built without a model instance or a nested
    serializer per follow: on a page of 100 customers that is most of the page's cost.
    """
    request = context["request"]
    added_at = SiteDateTimeField()
    rows = (
        follows_in_scope(request.user)
        .filter(customer_id__in=customer_ids, status=Follow.Status.ACTIVE)
        .order_by("added_at", "id")
        .values_list("id", "customer_id", "added_at", "state", "staff_id", "staff__userid", "staff__name")
    )
    briefs: dict[int, list[dict]] = {}
    for follow_id, customer_id, when, state, staff_id, userid, name in rows:
        briefs.setdefault(customer_id, []).append(
            {
                "id": follow_id,
                "url": detail_url(context, "api-v1:follow-detail", follow_id),
                "staff": {
                    "id": staff_id,
                    "url": detail_url(context, "api-v1:staff-detail", staff_id),
                    "userid": userid,
                    "name": name,
                },
                "added_at": added_at.to_representation(when),
                "state": state,
            }
        )
    return briefs


class CustomerListSerializer(serializers.ListSerializer):
    """Loads the follows of the whole page at once before the rows are serialized."""

    def to_representation(self, data):
        customers = list(data.all() if hasattr(data, "all") else data)
        self.context["_follow_briefs"] = follow_briefs(self.context, [c.pk for c in customers])
        return super().to_representation(customers)


class CustomerSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:customer-detail")
    tags = serializers.SerializerMethodField(
        help_text="Corporate tags on any of the customer's active follows."
    )
    follows = serializers.SerializerMethodField(help_text="Active follows the caller may see.")

    class Meta:
        model = Customer
        list_serializer_class = CustomerListSerializer
        fields = [
            "id",
            "url",
            "external_userid",
            "name",
            "avatar",
            "type",
            "gender",
            "unionid",
            "corp_name",
            "corp_full_name",
            "position",
            "first_added_at",
            "lifecycle_stage",
            "custom_fields",
            "tags",
            "follows",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(TagLabelSerializer(many=True))
    def get_tags(self, customer: Customer) -> list[dict]:
        return tag_labels(customer.tag_ids, _tag_names(self.context))

    @extend_schema_field(FollowBriefSerializer(many=True))
    def get_follows(self, customer: Customer) -> list[dict]:
        if "_follow_briefs" not in self.context:  # a single customer (retrieve)
            self.context["_follow_briefs"] = follow_briefs(self.context, [customer.pk])
        return self.context["_follow_briefs"].get(customer.pk, [])


class FollowSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:follow-detail")
    customer = CustomerBriefSerializer(read_only=True)
    staff = StaffBriefSerializer(read_only=True)
    # A plain integer: WeCom adds new codes, which are stored as they come (Follow.AddWay).
    add_way = serializers.IntegerField(read_only=True, help_text="WeCom's add_way code (see Follow.AddWay).")
    remark_mobiles = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = serializers.SerializerMethodField(help_text="Corporate tags on this follow.")

    class Meta:
        model = Follow
        fields = [
            "id",
            "url",
            "customer",
            "staff",
            "added_at",
            "add_way",
            "state",
            "remark",
            "description",
            "remark_corp_name",
            "remark_mobiles",
            "oper_userid",
            "status",
            "status_changed_at",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(TagLabelSerializer(many=True))
    def get_tags(self, follow: Follow) -> list[dict]:
        return tag_labels(sorted(link.tag_id for link in follow.tag_links.all()), _tag_names(self.context))


# --- Timeline and notes ---------------------------------------------------------------------------


class CustomerEventSerializer(serializers.ModelSerializer):
    staff = StaffBriefSerializer(read_only=True, allow_null=True)
    payload = serializers.DictField(read_only=True, help_text="Details, by event type.")

    class Meta:
        model = CustomerEvent
        fields = ["id", "type", "occurred_at", "staff", "source", "payload", "created_at"]
        read_only_fields = fields


class CustomerNoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    staff = StaffBriefSerializer(read_only=True, allow_null=True)
    body = serializers.CharField(max_length=2000)

    class Meta:
        model = CustomerNote
        fields = ["id", "body", "author", "staff", "created_at"]
        read_only_fields = ["author", "staff", "created_at"]


# --- Bulk tagging ---------------------------------------------------------------------------------


class CustomerBulkTagSerializer(serializers.Serializer):
    """One call of bulk tag or untag. Unknown ids and customers outside the caller's scope are
    refused together, by id, without saying which is which."""

    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=BULK_TAG_MAX_CUSTOMERS,
        help_text=f"Customers in the caller's scope, at most {BULK_TAG_MAX_CUSTOMERS}.",
    )
    tag_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=BULK_TAG_MAX_TAGS,
        help_text="Live corporate tags.",
    )

    def validate_customer_ids(self, ids: list[int]) -> list[int]:
        ids = sorted(set(ids))
        found = set(
            customer_list(user=self.context["request"].user).filter(id__in=ids).values_list("id", flat=True)
        )
        missing = [i for i in ids if i not in found]
        if missing:
            raise serializers.ValidationError(
                _("Unknown or outside your scope: %(ids)s.") % {"ids": ", ".join(map(str, missing))}
            )
        return ids

    def validate_tag_ids(self, ids: list[int]) -> list[Tag]:
        """The tags themselves, as the tag services take them."""
        tags = {tag.id: tag for tag in tag_list().filter(id__in=set(ids))}
        missing = sorted({i for i in ids if i not in tags})
        if missing:
            raise serializers.ValidationError(
                _("Unknown or deleted tags: %(ids)s.") % {"ids": ", ".join(map(str, missing))}
            )
        return list(tags.values())


class CustomerBulkTagResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="How many customers gained or lost a tag.")
