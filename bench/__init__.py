"""The project's benchmarks (QUALITY.md): run ``bench/run.py``; see bench/README.md."""
