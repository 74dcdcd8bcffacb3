"""The benchmark's chart: seconds per approach against table size, as a PNG (matplotlib, when installed)."""

from __future__ import annotations

from pathlib import Path


def draw(results: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    scales = [r["scale"] for r in results]
    styles = {"naive": "s-", "keyshift": "o-", "keyshift_v7": "o--", "floor": "^-"}
    labels = {
        "naive": "naive (UPDATE backfill)",
        "keyshift": "keyshift migrate (v4 keys)",
        "keyshift_v7": "keyshift migrate (v7 keys)",
        "floor": "floor (VACUUM FULL + FK validation)",
    }
    for approach in ("naive", "keyshift", "keyshift_v7", "floor"):
        pts = [(r["scale"], r["summary"][approach]["seconds"]) for r in results if approach in r["summary"]]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[approach], label=labels[approach])
    ax.set_xlabel("users N (10N orders, 30N order items)")
    ax.set_ylabel("seconds")
    ax.set_xticks(scales)
    ax.set_xticklabels([f"{s // 1000}k" for s in scales])
    ax.set_title("Converting users and orders to uuid keys (PostgreSQL 15, 2 cores)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
