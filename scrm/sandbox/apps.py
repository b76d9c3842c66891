from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """A local emulator of WeCom's server, reached by our client over HTTP like the real one."""

    name = "scrm.sandbox"
    label = "sandbox"
    verbose_name = "WeCom sandbox"
