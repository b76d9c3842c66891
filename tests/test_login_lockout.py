import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def attempt(client, password):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops", "password": password, "next": "/admin/"},
        REMOTE_ADDR="10.1.2.3",
    )


def test_five_wrong_passwords_lock_the_login_even_for_the_right_one(client):
    UserFactory(username="ops", password="the-right-password-1")
    for _ in range(4):
        assert attempt(client, "wrong").status_code == 200  # the form again, with its error
    assert attempt(client, "wrong").status_code == 429
    locked = attempt(client, "the-right-password-1")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(client):
    UserFactory(username="ops", password="the-right-password-1")
    for _ in range(4):
        attempt(client, "wrong")
    assert attempt(client, "the-right-password-1").status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "wrong").status_code == 200
