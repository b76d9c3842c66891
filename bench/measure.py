"""Timing and reporting shared by the benchmarks: samples, medians and spreads, the machine.

Every figure is several timed runs after a few untimed warm-up runs. A figure and its baseline are
run interleaved (A B B A …), so that a noisy neighbour on a shared machine slows both alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Figure:
    """Timed samples of one thing, in seconds."""

    label: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        position = q * (len(ordered) - 1)
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    @property
    def rate(self) -> float:
        """Requests (or queries) per second, one after another."""
        return 1 / self.median if self.median else float("inf")

    def text(self) -> str:
        s = self.samples
        iqr = f"{ms(self.quantile(0.25), unit=False)}–{ms(self.quantile(0.75), unit=False)}"
        spread = f"{ms(min(s), unit=False)}–{ms(max(s), unit=False)}"
        return f"{ms(self.median)} [IQR {iqr}, range {spread}, n={len(s)}]"

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "median_ms": self.median * 1000,
            "p25_ms": self.quantile(0.25) * 1000,
            "p75_ms": self.quantile(0.75) * 1000,
            "min_ms": min(self.samples) * 1000,
            "max_ms": max(self.samples) * 1000,
            "runs": len(self.samples),
        }


def ms(seconds: float, *, unit: bool = True) -> str:
    value = seconds * 1000
    text = f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{text} ms" if unit else text


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sample(*pairs: tuple[Figure, Callable[[], object]], runs: int, warmup: int) -> None:
    """Time each function ``runs`` times after ``warmup`` untimed runs, interleaved, alternating order."""
    for _ in range(warmup):
        for _figure, fn in pairs:
            fn()
    for i in range(runs):
        ordered = pairs if i % 2 == 0 else tuple(reversed(pairs))
        for figure, fn in ordered:
            figure.samples.append(timed(fn))


@dataclass
class Target:
    """One line of QUALITY.md's table, judged against a measured value."""

    text: str
    met: bool

    def __str__(self) -> str:
        return f"{self.text}: {'met' if self.met else 'MISSED'}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def database_info(connection) -> dict:
    """The database server: version and the settings that matter for these figures."""
    info = {"vendor": connection.vendor}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            info["version"] = f"PostgreSQL {cursor.fetchone()[0]}"
            for name in (
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "max_parallel_workers_per_gather",
                "jit",
            ):
                cursor.execute(f"SHOW {name}")
                info[name] = cursor.fetchone()[0]
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            info["version"] = f"SQLite {cursor.fetchone()[0]}"
        else:
            info["version"] = connection.vendor
    return info
