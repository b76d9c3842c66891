import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "scrm.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_with_debug_off_the_default_secret_key_is_refused():
    result = start(DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_with_a_real_key_the_server_starts():
    result = start(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="a-long-random-production-key-for-this-test-only")
    assert result.returncode == 0, result.stderr


def test_debug_may_run_on_the_default_key():
    assert start(DJANGO_DEBUG="true").returncode == 0
