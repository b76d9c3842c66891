from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo and benchmark data (``seed_demo``). Beside the stack: it may import every app."""

    name = "scrm.demo"
    label = "demo"
    verbose_name = "Demo data"
