"""The paginator that never counts a whole big table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from scrm.admin import DisplayCount, EstimatedCountPaginator, csv_cell
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_small_lists_are_counted_exactly():
    CustomerFactory.create_batch(3)
    paginator = EstimatedCountPaginator(
        Customer.objects.filter(name__startswith="Customer"), 2, count_limit=10
    )
    assert paginator.count == 3 and paginator.is_exact
    assert paginator.num_pages == 2
    assert paginator.template_name is None


def test_big_lists_are_counted_up_to_the_limit_only():
    CustomerFactory.create_batch(5)
    paginator = EstimatedCountPaginator(
        Customer.objects.filter(name__startswith="Customer"), 2, count_limit=3
    )
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count
    assert isinstance(count, DisplayCount)
    assert int(count) == 4 and str(count) == "3+"
    assert not paginator.is_exact and not paginator.is_estimate
    assert "LIMIT" in captured.captured_queries[0]["sql"].upper()
    assert paginator.template_name == "admin/scrm/pagination_estimated.html"
    # pages past the counted rows are still served
    assert len(paginator.page(3).object_list) == 1
    assert len(paginator.page(9).object_list) == 0


def test_spreadsheet_cells_are_defused():
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("张三") == "张三"
    assert csv_cell(None) == ""
