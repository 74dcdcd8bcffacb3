"""The lock window of a plan: each table it locks (``model.lock_order``) with its size on disk,
and how long migrate is estimated to hold those locks at a rewrite throughput, given with
``--throughput`` or measured by plan on the server (catalog/throughput.py).

Every table of the plan is locked before the first change and stays locked until COMMIT, so
the window is the sum of the tables' rewrite times: each table's share is its size over the
throughput. Pure: the sizes and the throughput are read before (catalog/read.table_sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.names import qualname
from orchestrator.plan.model import Plan, lock_order

#: Bytes in a MB, as PostgreSQL's pg_size_pretty counts them.
MB = 1024 * 1024
_UNITS = ("bytes", "kB", "MB", "GB", "TB", "PB")


@dataclass(frozen=True)
class Throughput:
    """MB rewritten per second (None: unknown) and where that figure comes from."""

    mb_per_s: float | None
    source: str


def given(mb_per_s: float) -> Throughput:
    return Throughput(mb_per_s, "given with --throughput")


def measured(probe_bytes: int, seconds: float, error: str | None) -> Throughput:
    """The throughput of plan's probe: ``probe_bytes`` rewritten in ``seconds``, or ``error``."""
    if error is not None or probe_bytes <= 0 or seconds <= 0:
        return Throughput(None, f"not measured on this server ({error or 'the probe took no time'})")
    return Throughput(
        probe_bytes / MB / seconds,
        f"measured on this server: rewriting the key of a {size_text(probe_bytes)} temporary table "
        f"took {seconds:.3g} s",
    )


@dataclass(frozen=True)
class Window:
    """(schema, table) and bytes of each locked table, in lock order, and the throughput."""

    tables: tuple[tuple[tuple[str, str], int], ...]
    throughput: Throughput

    @property
    def total_bytes(self) -> int:
        return sum(n for _t, n in self.tables)

    def seconds(self, n_bytes: int) -> float | None:
        """The estimated rewrite time of ``n_bytes``; None when the throughput is unknown."""
        rate = self.throughput.mb_per_s
        return None if rate is None else n_bytes / MB / rate


def estimate(plan: Plan, sizes: dict[tuple[str, str], int], throughput: Throughput) -> Window:
    """The window of ``plan`` from the tables' sizes in bytes (a table not found counts 0)."""
    return Window(tuple((key, sizes.get(key, 0)) for key in lock_order(plan)), throughput)


def lines(w: Window) -> list[str]:
    """What plan prints about the window: a line per locked table, the total, how it was found."""
    out = [
        "lock window (an estimate): migrate locks each table below before its first change and holds "
        "the lock until COMMIT; reads and writes on the table wait that long"
    ]
    for key, n in w.tables:
        out.append(f"  {qualname(*key)}: {size_text(n)}, rewrite {duration_text(w.seconds(n))}")
    rate = w.throughput.mb_per_s
    if rate is None:
        out.append(f"  total: {size_text(w.total_bytes)}; throughput {w.throughput.source}")
        out.append("  no time estimate: give --throughput MB_PER_S (MB rewritten per second on this server)")
        return out
    out.append(
        f"  total: {size_text(w.total_bytes)}, locked for {duration_text(w.seconds(w.total_bytes))} "
        f"at {rate:.3g} MB/s ({w.throughput.source})"
    )
    out.append(
        "  the estimate counts the table rewrites alone; migrate's other statements and its checks "
        "run under the same locks: choose a window several times longer"
    )
    return out


def size_text(n: int) -> str:
    """``n`` bytes the way pg_size_pretty shows them (bytes, kB, MB, ... in steps of 1024)."""
    value = float(n)
    for unit in _UNITS[:-1]:
        if abs(value) < 10 * 1024:
            return f"{n} bytes" if unit == "bytes" else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} {_UNITS[-1]}"


def duration_text(seconds: float | None) -> str:
    """About how long ``seconds`` is: under 0.1 s, s, min or h with one decimal; ``?`` when unknown."""
    if seconds is None:
        return "?"
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 60:
        return f"about {seconds:.1f} s"
    if seconds < 3600:
        return f"about {seconds / 60:.1f} min"
    return f"about {seconds / 3600:.1f} h"
