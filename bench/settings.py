"""Settings for servers the benchmarks start in their own processes (P2's gunicorn and worker).

The settings named in ``SCRM_BENCH_BASE_SETTINGS`` (the project's own by default) with the
benchmarks' urlconf, so that the empty view the baseline requests exists in the same server.
"""

import importlib
import os

_base = importlib.import_module(os.environ.get("SCRM_BENCH_BASE_SETTINGS", "scrm.settings"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

ROOT_URLCONF = "bench.urls"
