"""QUALITY.md's P1, P3 and P4, each against a baseline measured in the same run.

- P1: count an audience (three tag clauses, a department subtree, a first-added date range) with
  ``customers.segments.segment_count`` (the ORM, through ``customers.filters``), against the best
  of two hand-written SQL statements.
- P3: the admin customer changelist with a tag filter and a customer's change page, in-process
  through ``django.test.Client`` as a superuser, with their query counts; baseline: an empty page.
- P4: the REST list of customers with a tag filter, pages of 100, with an API key, against a bare
  DRF cursor-paginated list of the same table with the same filter (``bench/urls.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.filters import day_start
from customers.models import Customer, Follow, Tag
from customers.segments import segment_count, segment_rules_clean
from scrm.org.models import Department

from .measure import Figure, Target, sample

# The query parameters the admin and the API use for "has any of these tags". One place to change.
ADMIN_TAG_PARAM = "tags_any"
API_TAG_PARAM = "tags_any"
API_PAGE_SIZE = 100

# P1's audience: silver or gold members aged 25-29, not blacklisted, followed by staff of the East
# China area, first added in the last 180 days of the data set. (group, tag) names of the demo.
SEGMENT_ANY = [("会员等级", "银卡会员"), ("会员等级", "金卡会员")]
SEGMENT_ALL = [("年龄段", "25-29岁")]
SEGMENT_NONE = [("风险标记", "黑名单")]
SEGMENT_DEPARTMENT = "华东大区"
SEGMENT_DAYS = 180
# P3 and P4 filter lists by this tag.
LIST_TAG = ("会员等级", "金卡会员")


class BenchError(Exception):
    """A measurement could not be taken (a page failed, two answers disagree)."""


@dataclass
class Result:
    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "figures": [f.as_dict() for f in self.figures],
            "notes": self.notes,
            "targets": [{"text": t.text, "met": t.met} for t in self.targets],
            "errors": self.errors,
        }


def tag_ids(pairs: list[tuple[str, str]]) -> list[int]:
    ids = []
    for group, name in pairs:
        tag = Tag.objects.filter(group__name=group, name=name, deleted=False).first()
        if tag is None:
            raise BenchError(f"The data set has no tag {group}/{name}: build it with seed_demo.")
        ids.append(tag.id)
    return ids


# --- P1 -------------------------------------------------------------------------------------------

_PG_TAGS = "c.tag_ids && %s::bigint[] AND c.tag_ids @> %s::bigint[] AND NOT c.tag_ids && %s::bigint[]"
_SQLITE_TAGS = (
    "EXISTS (SELECT 1 FROM json_each(c.tag_ids) WHERE json_each.value IN ({any})) "
    "AND (SELECT COUNT(*) FROM json_each(c.tag_ids) WHERE json_each.value IN ({all})) = {n_all} "
    "AND NOT EXISTS (SELECT 1 FROM json_each(c.tag_ids) WHERE json_each.value IN ({none}))"
)
_EXISTS = """
SELECT COUNT(*) FROM customers_customer c
WHERE {tags}
  AND c.first_added_at >= %s AND c.first_added_at < %s
  AND EXISTS (
    SELECT 1 FROM customers_follow f
    JOIN org_staffdepartment sd ON sd.staff_id = f.staff_id
    JOIN org_department d ON d.id = sd.department_id
    WHERE f.customer_id = c.id AND f.status = 'active' AND d.path LIKE %s
  )
"""
_IN = """
SELECT COUNT(*) FROM customers_customer c
WHERE {tags}
  AND c.first_added_at >= %s AND c.first_added_at < %s
  AND c.id IN (
    SELECT f.customer_id FROM customers_follow f
    WHERE f.status = 'active' AND f.staff_id IN (
      SELECT sd.staff_id FROM org_staffdepartment sd JOIN org_department d ON d.id = sd.department_id
      WHERE d.path LIKE %s
    )
  )
"""


def _hand_written(any_ids, all_ids, none_ids, start, end, path) -> dict[str, tuple[str, list]]:
    """The same question in plain SQL, two ways; the faster one is the baseline."""
    adapt = connection.ops.adapt_datetimefield_value
    tail = [adapt(start), adapt(end), path + "%"]
    if connection.vendor == "postgresql":
        params = [any_ids, all_ids, none_ids, *tail]
        return {name: (sql.format(tags=_PG_TAGS), params) for name, sql in (("EXISTS", _EXISTS), ("IN", _IN))}
    marks = lambda ids: ", ".join(["%s"] * len(ids))  # noqa: E731
    tags = _SQLITE_TAGS.format(
        any=marks(any_ids), all=marks(all_ids), n_all=len(all_ids), none=marks(none_ids)
    )
    params = [*any_ids, *all_ids, *none_ids, *tail]
    return {name: (sql.format(tags=tags), params) for name, sql in (("EXISTS", _EXISTS), ("IN", _IN))}


def p1_audience(*, runs: int, warmup: int) -> Result:
    result = Result("P1", "audience count: three tag clauses, a department subtree, a first-added range")
    any_ids, all_ids, none_ids = tag_ids(SEGMENT_ANY), tag_ids(SEGMENT_ALL), tag_ids(SEGMENT_NONE)
    department = Department.objects.filter(name=SEGMENT_DEPARTMENT).first()
    if department is None:
        raise BenchError(f"The data set has no department {SEGMENT_DEPARTMENT}.")
    latest = Customer.objects.aggregate(latest=Max("first_added_at"))["latest"]
    before = timezone.localdate(latest)
    after = before - timedelta(days=SEGMENT_DAYS)

    # The rules as a saved segment holds them; segment_count builds them with customers.filters.
    rules = segment_rules_clean(
        {
            "tags_any": any_ids,
            "tags_all": all_ids,
            "tags_none": none_ids,
            "departments": [department.id],
            "added_after": after.isoformat(),
            "added_before": before.isoformat(),
        }
    )

    def orm() -> int:
        return segment_count(rules)

    statements = _hand_written(
        any_ids, all_ids, none_ids, day_start(after), day_start(before) + timedelta(days=1), department.path
    )

    def run_sql(sql: str, params: list) -> Callable[[], int]:
        def run() -> int:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()[0]

        return run

    count = orm()
    for name, (sql, params) in statements.items():
        other = run_sql(sql, params)()
        if other != count:
            raise BenchError(f"The ORM counts {count} customers but the hand-written SQL ({name}) {other}.")
    result.notes.append(
        f"segment: ANY({', '.join(n for _, n in SEGMENT_ANY)}) ALL({', '.join(n for _, n in SEGMENT_ALL)}) "
        f"NONE({', '.join(n for _, n in SEGMENT_NONE)}), followed by staff of {department.name} "
        f"({department.path}), first added {after}..{before}: {count:,} customers"
    )
    figure = Figure("ORM (segment_count)")
    sql_figures = {name: Figure(f"hand-written SQL ({name})") for name in statements}
    sample(
        (figure, orm),
        *((sql_figures[name], run_sql(sql, params)) for name, (sql, params) in statements.items()),
        runs=runs,
        warmup=warmup,
    )
    best = min(sql_figures.values(), key=lambda f: f.median)
    best.label = f"best {best.label}: baseline"
    ratio = figure.median / best.median
    result.figures = [figure, *sorted(sql_figures.values(), key=lambda f: f.median)]
    result.notes.append(f"ORM / best hand-written SQL: {ratio:.2f}x")
    result.targets = [
        Target(f"< 200 ms (median {figure.median * 1000:.1f} ms)", figure.median < 0.2),
        Target(f"within 1.5x of the best hand-written SQL ({ratio:.2f}x)", ratio <= 1.5),
    ]
    return result


# --- P3 and P4 ------------------------------------------------------------------------------------

_COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)
_CUSTOMER_TABLE = re.compile(r'\bFROM "customers_customer"(?![\w])', re.IGNORECASE)


def full_counts(queries: list[dict]) -> list[str]:
    """COUNT queries over the customer table without a LIMIT: the full counts trap 8 warns about."""
    return [
        q["sql"][:200]
        for q in queries
        if _COUNT.search(q["sql"]) and _CUSTOMER_TABLE.search(q["sql"]) and " LIMIT " not in q["sql"].upper()
    ]


def fetch(client, url: str, **headers) -> Callable[[], object]:
    def get():
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}.")
        return response

    return get


def queries_of(fn: Callable[[], object]) -> list[dict]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return list(captured.captured_queries)


def detail_customer_id() -> int:
    """A customer in the middle of the table with several active follows: a full change page."""
    middle = (Customer.objects.aggregate(top=Max("id"))["top"] or 0) // 2
    row = (
        Follow.objects.filter(customer_id__gte=middle, status=Follow.Status.ACTIVE)
        .values("customer_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .order_by("customer_id")
        .first()
    )
    if row is None:
        return Customer.objects.order_by("id").values_list("id", flat=True).first()
    return row["customer_id"]


def p3_admin(client, *, runs: int, warmup: int) -> Result:
    from django.contrib import admin

    result = Result("P3", "admin: customer changelist with a tag filter; customer change page")
    (tag_id,) = tag_ids([LIST_TAG])
    changelist = reverse("admin:customers_customer_changelist") + f"?{ADMIN_TAG_PARAM}={tag_id}"
    customer_id = detail_customer_id()
    change = reverse("admin:customers_customer_change", args=[customer_id])
    empty = reverse("bench-empty")
    get_list, get_change, get_empty = fetch(client, changelist), fetch(client, change), fetch(client, empty)

    # Query counts, and whether they depend on the page size.
    model_admin = admin.site._registry.get(Customer)
    per_page = getattr(model_admin, "list_per_page", 100)
    get_list()  # warm the caches (tag names, sessions) so that both counts are of a steady page
    list_queries = queries_of(get_list)
    small_page = 20
    if model_admin is not None:
        model_admin.list_per_page = small_page
        try:
            small_queries = queries_of(get_list)
        finally:
            model_admin.list_per_page = per_page
    else:
        small_queries = list_queries
    change_queries = queries_of(get_change)
    counts = full_counts(list_queries) + full_counts(change_queries)
    result.notes.append(
        f"changelist {changelist}: {len(list_queries)} queries at {per_page} rows a page, "
        f"{len(small_queries)} at {small_page}"
    )
    result.notes.append(f"change page {change}: {len(change_queries)} queries")
    if counts:
        result.notes.extend(f"full COUNT: {sql}" for sql in counts)

    list_figure, change_figure = (
        Figure(f"changelist ?{ADMIN_TAG_PARAM}={tag_id}"),
        Figure("customer change page"),
    )
    empty_figure = Figure("empty page, same middleware (baseline)")
    sample(
        (list_figure, get_list),
        (change_figure, get_change),
        (empty_figure, get_empty),
        runs=runs,
        warmup=warmup,
    )
    result.figures = [list_figure, change_figure, empty_figure]
    result.notes.append(
        f"changelist {list_figure.median / empty_figure.median:.0f}x, change page "
        f"{change_figure.median / empty_figure.median:.0f}x an empty page"
    )
    result.targets = [
        Target(f"changelist p50 < 300 ms ({list_figure.median * 1000:.0f} ms)", list_figure.median < 0.3),
        Target(
            f"change page p50 < 200 ms ({change_figure.median * 1000:.0f} ms)", change_figure.median < 0.2
        ),
        Target("no full COUNT(*)", not counts),
        Target(
            f"query count independent of page size ({len(list_queries)} vs {len(small_queries)})",
            len(list_queries) == len(small_queries),
        ),
    ]
    return result


def p4_api(client, api_key: str, *, runs: int, warmup: int) -> Result:
    result = Result("P4", f"REST list of customers with a tag filter, pages of {API_PAGE_SIZE}")
    (tag_id,) = tag_ids([LIST_TAG])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    product = reverse("api-v1:customer-list") + f"?{API_TAG_PARAM}={tag_id}&page_size={API_PAGE_SIZE}"
    bare = reverse("bench-bare-customers") + f"?tags_any={tag_id}"
    get_product, get_bare = fetch(client, product, **headers), fetch(client, bare, **headers)
    rows = len(get_product().json()["results"])
    bare_rows = len(get_bare().json()["results"])
    if rows != bare_rows:
        raise BenchError(f"The API answered {rows} customers on its first page, the bare list {bare_rows}.")
    product_queries, bare_queries = queries_of(get_product), queries_of(get_bare)
    result.notes.append(
        f"{product}: {rows} rows, {len(product_queries)} queries (bare list: {len(bare_queries)})"
    )
    product_figure, bare_figure = Figure(product), Figure("bare DRF cursor list, same filter (baseline)")
    sample((product_figure, get_product), (bare_figure, get_bare), runs=runs, warmup=warmup)
    result.figures = [product_figure, bare_figure]
    ratio = product_figure.rate / bare_figure.rate
    result.notes.append(
        f"rate: {product_figure.rate:.0f} requests/s against {bare_figure.rate:.0f} for the bare list "
        f"(one at a time, in-process): {ratio:.2f}x"
    )
    result.targets = [
        Target(f"p50 < 50 ms ({product_figure.median * 1000:.1f} ms)", product_figure.median < 0.05),
        Target(f"at least half the bare list's rate ({ratio:.2f}x)", ratio >= 0.5),
        Target("no full COUNT(*)", not full_counts(product_queries)),
    ]
    return result
