"""Fast deterministic draws and the demo's calendar: weighted picks, random ids, epoch seconds."""

from __future__ import annotations

import bisect
from datetime import date, datetime, time, tzinfo
from itertools import accumulate
from random import Random

DAY = 86_400


class Picker:
    """Draws items by weight in constant time: 2**bits quantiles of the weights, indexed by random bits."""

    __slots__ = ("table", "bits")

    def __init__(self, items, weights=None, bits: int = 12):
        items = list(items)
        weights = list(weights) if weights is not None else [1] * len(items)
        cumulative = list(accumulate(weights))
        total = cumulative[-1]
        size = 1 << bits
        self.table = [items[bisect.bisect_right(cumulative, (k + 0.5) * total / size)] for k in range(size)]
        self.bits = bits

    def pick(self, rng: Random):
        return self.table[rng.getrandbits(self.bits)]


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ALNUM_BYTES = bytes(ord(_ALNUM[i % 62]) for i in range(256))
HEX_BYTES = bytes(ord("0123456789abcdef"[i % 16]) for i in range(256))
_DIGIT_BYTES = bytes(ord("0123456789"[i % 10]) for i in range(256))


def rand_text(rng: Random, n: int, table: bytes = _ALNUM_BYTES) -> str:
    return rng.getrandbits(8 * n).to_bytes(n, "big").translate(table).decode("ascii")


def rand_digits(rng: Random, n: int) -> str:
    return rand_text(rng, n, _DIGIT_BYTES)


class Clock:
    """Days before the base date and seconds of the local day, turned into epoch seconds."""

    def __init__(self, base_date: date, tz: tzinfo):
        self.base_date = base_date
        self.base = int(datetime.combine(base_date, time.min, tzinfo=tz).timestamp())
        self.latest = self.base - 60  # nothing happens on or after the base date

    def at(self, days_before: int, second: int) -> int:
        return self.base - days_before * DAY + second

    def days_before(self, month: int, day: int) -> int:
        """How many days ago the latest (month, day) before the base date was."""
        year = self.base_date.year
        when = date(year, month, day)
        if when >= self.base_date:
            when = date(year - 1, month, day)
        return (self.base_date - when).days


# Local hour of day at which customers act: little at night, peaks at lunch and in the evening.
HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 6, 8, 9, 10, 12, 10, 8, 7, 7, 8, 10, 12, 13, 11, 7, 3]
