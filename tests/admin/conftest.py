import pytest


@pytest.fixture
def login(client, company):
    """``login("guide_a")`` logs the client in as one of the company's people and returns it."""

    def _login(who: str):
        client.force_login(getattr(company.users, who))
        return client

    return _login
