"""The bench's summary: medians per approach, and the table printed for one scale."""

from __future__ import annotations

import statistics


def _median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs: dict[str, list[dict]]) -> dict:
    out = {}
    floor_s = _median(runs["floor"], "seconds")
    floor_wal = _median(runs["floor"], "wal_bytes")
    for approach, rs in runs.items():
        if not rs:
            continue
        s = _median(rs, "seconds")
        wal = _median(rs, "wal_bytes")
        row = {
            "runs": len(rs),
            "seconds": s,
            "ratio_to_floor": s / floor_s,
            "wal_bytes": wal,
            "wal_ratio_to_floor": wal / floor_wal,
            "size_bytes": _median(rs, "size_bytes"),
            "size_ratio_to_fresh": statistics.median(r["size_bytes"] / r["fresh_size_bytes"] for r in rs),
        }
        if approach.startswith("keyshift"):
            row["plan_seconds"] = _median(rs, "plan_seconds")
            row["peak_rss_mib"] = max(r["peak_rss_kib"] for r in rs) / 1024
            names = list(rs[0]["steps"])
            row["steps"] = {n: statistics.median(r["steps"].get(n, 0.0) for r in rs) for n in names}
            # a check prints its own line only in runs where it took 0.1 s or more: the median
            # of those runs, and in how many of them it did
            names = sorted({n for r in rs for n in r.get("checks", {})})
            row["checks"] = {
                n: statistics.median(r["checks"][n] for r in rs if n in r.get("checks", {})) for n in names
            }
            row["checks_runs"] = {n: sum(n in r.get("checks", {}) for r in rs) for n in names}
        if approach == "floor":
            row["steps"] = {n: statistics.median(r["steps"][n] for r in rs) for n in rs[0]["steps"]}
        out[approach] = row
    return out


def table_lines(result: dict) -> list[str]:
    s = result["summary"]
    head = (
        f"N={result['scale']:,} users ({result['rows']['orders']:,} orders, {result['rows']['order_items']:,} items);"
        f" median of {result['repeat']}"
        + (f" (naive: {result['naive_repeat']})" if result["naive_repeat"] != result["repeat"] else "")
    )
    lines = [
        head,
        f"  {'approach':<12} {'seconds':>9} {'x floor':>8} {'WAL MiB':>9} {'x floor':>8} "
        f"{'size MiB':>9} {'x fresh':>8} {'peak RSS':>9}",
    ]
    for name, row in s.items():
        rss = f"{row['peak_rss_mib']:6.1f} MiB" if "peak_rss_mib" in row else ""
        lines.append(
            f"  {name:<12} {row['seconds']:9.2f} {row['ratio_to_floor']:7.2f}x {row['wal_bytes'] / 2**20:9.1f}"
            f" {row['wal_ratio_to_floor']:7.2f}x {row['size_bytes'] / 2**20:9.1f} {row['size_ratio_to_fresh']:7.3f}x"
            f" {rss:>9}"
        )
    if "keyshift" in s and "naive" in s:
        lines.append(
            f"  keyshift is {s['naive']['seconds'] / s['keyshift']['seconds']:.1f}x faster than naive;"
            f" plan took {s['keyshift']['plan_seconds']:.2f} s (not in the keyshift time)"
        )
    if "keyshift_v7" in s and "naive" in s:
        lines.append(f"  keyshift v7 is {s['naive']['seconds'] / s['keyshift_v7']['seconds']:.1f}x faster than naive")
    for name in ("floor", "keyshift", "keyshift_v7"):
        if name in s:
            lines.append(f"  {name} steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in s[name]["steps"].items()))
            slow = s[name].get("checks", {})
            total = s[name]["runs"]
            runs = s[name].get("checks_runs", {})
            if slow:
                lines.append(
                    f"  {name} checks (>= 0.1 s): "
                    + ", ".join(
                        f"{k} {v:.2f} s" + (f" ({runs[k]} of {total} runs)" if runs.get(k, total) < total else "")
                        for k, v in slow.items()
                    )
                )
    return lines
