import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from customers.models import Customer

pytestmark = pytest.mark.django_db


def run(**kwargs) -> str:
    out = io.StringIO()
    call_command("demo_setup", stdout=out, **kwargs)
    return out.getvalue()


def test_demo_setup_creates_the_admin_and_loads_data_once(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "chosen-demo-pw")
    output = run(customers=40)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("chosen-demo-pw")
    assert "password 'chosen-demo-pw'" in output
    count = Customer.objects.count()
    assert count == 40
    run(customers=40)
    assert Customer.objects.count() == count  # an existing database is left as it is


def test_without_a_chosen_password_one_is_made_and_kept(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("scrm.management.commands.demo_setup.PASSWORD_FILE", tmp_path / "pw")
    first = run(customers=10)
    password = (tmp_path / "pw").read_text()
    assert f"password '{password}'" in first and len(password) >= 12
    assert f"password '{password}'" in run(customers=10)
