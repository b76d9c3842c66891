"""The console's and the player API's actions, one module per area; importing registers them."""

from . import acquisition, outreach, people  # noqa: F401
