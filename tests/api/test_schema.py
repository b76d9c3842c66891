"""The OpenAPI schema: valid, warning-free, complete, and served with its Swagger UI."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from campaigns.models import (
    Channel,
    GroupCode,
    GroupSopRule,
    GroupSopRun,
    GroupWelcomeTemplate,
    LiveCode,
    LiveCodeMember,
    MomentCampaign,
    StaffTask,
    WelcomeMessage,
)
from customers.models import CustomerNote, Segment
from tests.factories import CustomerEventFactory

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/customers/": {"get"},
    "/api/v1/customers/{id}/": {"get"},
    "/api/v1/customers/{id}/timeline/": {"get"},
    "/api/v1/customers/{id}/notes/": {"get", "post"},
    "/api/v1/customers/bulk-tag/": {"post"},
    "/api/v1/customers/bulk-untag/": {"post"},
    "/api/v1/follows/": {"get"},
    "/api/v1/follows/{id}/": {"get"},
    "/api/v1/tag-groups/": {"get", "post"},
    "/api/v1/tag-groups/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/tags/": {"get", "post"},
    "/api/v1/tags/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/segments/": {"get", "post"},
    "/api/v1/segments/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/segments/{id}/count/": {"get"},
    "/api/v1/segments/{id}/sample/": {"get"},
    "/api/v1/segments/{id}/export/": {"get"},
    "/api/v1/segments/count/": {"post"},
    "/api/v1/transfer-jobs/": {"get"},
    "/api/v1/transfer-jobs/{id}/": {"get"},
    "/api/v1/transfer-jobs/{id}/items/": {"get"},
    "/api/v1/transfer-jobs/onjob/": {"post"},
    "/api/v1/pool/": {"get"},
    "/api/v1/pool/{id}/": {"get"},
    "/api/v1/pool/claim/": {"post"},
    "/api/v1/staff/": {"get"},
    "/api/v1/staff/{id}/": {"get"},
    "/api/v1/departments/": {"get"},
    "/api/v1/departments/{id}/": {"get"},
    "/api/v1/groups/": {"get"},
    "/api/v1/groups/{id}/": {"get"},
    "/api/v1/group-members/": {"get"},
    "/api/v1/group-members/{id}/": {"get"},
    "/api/v1/live-codes/": {"get", "post"},
    "/api/v1/live-codes/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/live-codes/{id}/status/": {"get"},
    "/api/v1/welcome-messages/": {"get", "post"},
    "/api/v1/welcome-messages/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/welcome-messages/{id}/preview/": {"get"},
    "/api/v1/group-welcome-templates/": {"get", "post"},
    "/api/v1/group-welcome-templates/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/group-codes/": {"get", "post"},
    "/api/v1/group-codes/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/group-codes/{id}/joins/": {"get"},
    "/api/v1/channel-analytics/": {"get"},
    "/api/v1/materials/": {"get", "post"},
    "/api/v1/materials/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/material-folders/": {"get", "post"},
    "/api/v1/material-folders/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/material-tags/": {"get", "post"},
    "/api/v1/material-tags/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/scripts/": {"get", "post"},
    "/api/v1/scripts/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/script-categories/": {"get", "post"},
    "/api/v1/script-categories/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/sensitive-words/": {"get", "post"},
    "/api/v1/sensitive-words/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/sensitive-words/check/": {"post"},
    "/api/v1/broadcasts/": {"get", "post"},
    "/api/v1/broadcasts/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/broadcasts/{id}/preview/": {"get"},
    "/api/v1/broadcasts/{id}/launch/": {"post"},
    "/api/v1/broadcasts/{id}/cancel/": {"post"},
    "/api/v1/broadcasts/{id}/remind/": {"post"},
    "/api/v1/broadcasts/{id}/sync/": {"post"},
    "/api/v1/broadcasts/{id}/senders/": {"get"},
    "/api/v1/broadcasts/{id}/recipients/": {"get"},
    "/api/v1/moments/": {"get", "post"},
    "/api/v1/moments/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/moments/{id}/launch/": {"post"},
    "/api/v1/moments/{id}/cancel/": {"post"},
    "/api/v1/moments/{id}/sync/": {"post"},
    "/api/v1/moments/{id}/publishers/": {"get"},
    "/api/v1/sop-rules/": {"get", "post"},
    "/api/v1/sop-rules/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/sop-rules/{id}/enrolments/": {"get"},
    "/api/v1/group-sop-rules/": {"get", "post"},
    "/api/v1/group-sop-rules/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/group-sop-rules/{id}/runs/": {"get"},
    "/api/v1/staff-tasks/": {"get"},
    "/api/v1/staff-tasks/{id}/": {"get"},
    "/api/v1/staff-tasks/{id}/done/": {"post"},
    "/api/v1/staff-tasks/{id}/skip/": {"post"},
}


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get(reverse("api-v1:schema"), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_the_command_generates_it_without_a_warning(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert target.read_text().startswith("openapi: 3.0")


def test_the_served_schema_is_valid_openapi_3(schema):
    validate_schema(schema)  # raises on any violation of the OpenAPI 3.0 JSON schema
    assert schema["openapi"].startswith("3.0")


def test_every_endpoint_is_in_the_schema(schema):
    paths = {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()}
    assert paths == PATHS


def test_every_operation_needs_an_api_key_or_a_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "scrm_<prefix>_<secret>",
        "description": schemes["apiKeyBearer"]["description"],
    }
    assert schemes["apiKeyHeader"]["in"] == "header" and schemes["apiKeyHeader"]["name"] == "X-Api-Key"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"apiKeyBearer": []} in operation["security"], (path, method)
            assert {"apiKeyHeader": []} in operation["security"], (path, method)


def test_types_are_real(schema):
    components = schema["components"]["schemas"]
    customer = components["Customer"]["properties"]
    assert customer["tags"]["items"] == {"$ref": "#/components/schemas/TagLabel"}
    assert customer["follows"]["items"] == {"$ref": "#/components/schemas/FollowBrief"}
    # written as an id, read as the brief group
    assert components["TagRequest"]["properties"]["group"] == {"type": "integer"}
    assert components["Tag"]["properties"]["group"] == {"$ref": "#/components/schemas/TagGroupBrief"}
    assert components["CustomerBulkTagRequest"]["properties"]["customer_ids"]["maxItems"] == 1000
    customers = schema["paths"]["/api/v1/customers/"]["get"]
    params = {p["name"]: p["schema"] for p in customers["parameters"]}
    assert params["tags_any"] == {"type": "array", "items": {"type": "integer"}}
    assert params["department"] == {"type": "integer"}
    assert params["added_after"] == {"type": "string", "format": "date"}
    assert params["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    ok = customers["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PaginatedCustomerList"}
    timeline = schema["paths"]["/api/v1/customers/{id}/timeline/"]["get"]["responses"]["200"]
    assert timeline["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedCustomerEventList"
    }


def test_swagger_ui_is_served_from_our_own_static_files(db):
    response = APIClient().get(reverse("api-v1:docs"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert reverse("api-v1:schema") in page


def _json_schema(node):
    """OpenAPI 3.0 schema objects as JSON Schema: ``nullable`` becomes a null alternative."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def _content_examples() -> dict:
    from campaigns.models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord

    folder = MaterialFolder.objects.create(name="Autumn")
    material = Material.objects.create(kind="link", title="Shop", link_url="https://e.com/", folder=folder)
    material.tags.add(tag := MaterialTag.objects.create(name="new"))
    script = Script.objects.create(
        category=ScriptCategory.objects.create(name="Greetings"), title="Hi", text="Hi"
    )
    script.materials.add(material)
    return {
        "materials": material,
        "material-folders": folder,
        "material-tags": tag,
        "scripts": script,
        "script-categories": script.category,
        "sensitive-words": SensitiveWord.objects.create(word="返现"),
    }


def _broadcast_example(company):
    from campaigns.models import Broadcast, BroadcastBatch, BroadcastRecipient

    broadcast = Broadcast.objects.create(name="Spring", text="Hi", status="sending", targeted=2, eligible=1)
    batch = BroadcastBatch.objects.create(broadcast=broadcast, sender=company.sa, size=1, status="handed")
    BroadcastRecipient.objects.create(
        broadcast=broadcast,
        customer=company.ca1,
        target=company.ca1.external_userid,
        sender=company.sa,
        batch=batch,
    )
    BroadcastRecipient.objects.create(broadcast=broadcast, group=company.ga, target="wr-x", reason="no_owner")
    return broadcast


def _group_sop_example():
    rule = GroupSopRule.objects.create(name="Monday", weekdays=[0], time_of_day="10:00", text="Hi")
    GroupSopRun.objects.create(
        rule=rule, scheduled_for=timezone.now(), due_at=timezone.now(), status="skipped"
    )
    return rule


def _sop_example(company):
    from campaigns.models import SopEnrolment, SopRule, SopStep

    rule = SopRule.objects.create(name="Welcome", trigger="tagged", trigger_tag=company.gold)
    SopStep.objects.create(rule=rule, day=0, at_time="10:00", text="Hi")
    SopEnrolment.objects.create(rule=rule, customer=company.ca1, staff=company.sa, anchor_at=timezone.now())
    return rule


def _transfer_examples(company):
    from customers.models import PoolEntry, TransferItem, TransferJob

    job = TransferJob.objects.create(kind="onjob", trigger="api", handover=company.sa, takeover=company.sb)
    follow = company.ca1.follows.get()
    TransferItem.objects.create(job=job, customer=company.ca1, follow=follow, takeover=company.sb)
    TransferItem.objects.create(
        job=job, customer=company.cb1, takeover=company.sb, status="blocked", reason="not_followed"
    )
    entry = PoolEntry.objects.create(
        customer=company.ca2, follow=company.ca2.follows.get(), reason="policy", entered_at=timezone.now()
    )
    return {"transfer-jobs": job, "pool": entry}


def test_responses_stay_inside_the_schema(schema, api, company):
    """Every list and object the API returns validates against its documented schema (R5)."""
    CustomerEventFactory(customer=company.ca1, staff=company.sa, payload={"tags": [{"id": 1}]})
    CustomerEventFactory(customer=company.ca1, staff=None)
    CustomerNote.objects.create(customer=company.ca1, body="hi", author=None)
    follow = company.ca1.follows.get()
    follow.add_way = 99  # a code WeCom added after us
    follow.save()

    # Campaign rows made directly: what is checked here is the shape of the answers, not WeCom.
    live_code = LiveCode.objects.create(
        name="Fair", channel=Channel.objects.create(state="fair", name="Fair")
    )
    LiveCodeMember.objects.create(code=live_code, staff=company.sa)
    group_code = GroupCode.objects.create(
        name="VIP", channel=Channel.objects.create(state="vip", name="VIP"), room_base_name="VIP "
    )
    examples = {
        "live-codes": live_code,
        "welcome-messages": WelcomeMessage.objects.create(name="Hello", text="Hello {customer}"),
        "group-welcome-templates": GroupWelcomeTemplate.objects.create(name="Hi", text="Hi %NICKNAME%"),
        "group-codes": group_code,
        "moments": MomentCampaign.objects.create(name="Spring", text="Spring is here"),
        "group-sop-rules": _group_sop_example(),
        "sop-rules": _sop_example(company),
        "staff-tasks": StaffTask.objects.create(
            staff=company.sa, group=company.ga, title="Post", due_at=timezone.now(), source_key="x:1"
        ),
        "channel-analytics": None,  # no {id}: the default range of every channel
        **_content_examples(),
        "broadcasts": _broadcast_example(company),
        "customers": company.ca1,
        "follows": follow,
        "tag-groups": company.vip_group,
        "tags": company.gold,
        "segments": Segment.objects.create(name="Gold", rules={"tags_any": [company.gold.id]}),
        "staff": company.sa,
        "departments": company.store_a,
        "groups": company.ga,
        "group-members": company.ga.members.get(),
        **_transfer_examples(company),
    }
    components = _json_schema(schema["components"])
    client = api("admin")
    checked = 0
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        example = examples[path.split("/")[3]]
        url = path.replace("{id}", str(example.pk)) if example is not None else path
        response = client.get(url)
        assert response.status_code == 200, (url, response.content)
        content = operations["get"]["responses"]["200"]["content"]
        if "application/json" not in content:  # a CSV download (segments' export)
            continue
        ref = content["application/json"]["schema"]["$ref"]
        validator = Draft202012Validator({"$ref": ref, "components": components})
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
        assert not errors, (url, errors)
        checked += 1
    # moments: list, detail, publishers; group SOP + tasks: 3 + 2; customer SOP: 3;
    # broadcasts: list, detail, preview, senders, recipients: 5
    # transfer jobs: list, detail, items; pool: list, detail: 5
    assert checked == 34 + 12 + 3 + 5 + 3 + 5 + 5
