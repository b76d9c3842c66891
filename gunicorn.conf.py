"""gunicorn's configuration for production (``Procfile``: ``web``); environment variables override it.

Workers and threads: Django's request handling is CPU work (decrypt, parse, render) interleaved
with waits on PostgreSQL and Redis. ``gthread`` lets each process keep serving while one thread
waits for a commit, and keeps connections alive, so two processes per core with a few threads each
fill two cores without the memory of ten sync workers. P2 (``bench/ingest.py``) runs this
configuration; its figures are in ``docs/benchmarks.md``.
"""

import os

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# WeCom gives up on a callback after 5 s; no request of ours should take anywhere near 30.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so that a slow leak never grows without bound.
max_requests = 20_000
max_requests_jitter = 2_000
# Errors to stderr, for the platform to collect (12-factor). Access lines only when asked for
# (GUNICORN_ACCESS_LOG=-): the proxy in front usually writes them already.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
