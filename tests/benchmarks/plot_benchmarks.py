"""Draw docs/benchmarks.png from the results JSON: ours relative to the astronomer provider.

``python plot_benchmarks.py results.json out.png``, run with the ``.bench/plot`` venv (matplotlib).
One horizontal bar per cost figure, ours divided by the baseline's on a log axis: left of 1 means
ours costs less. Each bar is labelled with both absolute values.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _pairs(results: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    pairs: list[tuple[str, float, float, str]] = []

    def add(
        label: str, block: str, key: str, unit: str, ours_key: str = "ours", astro_key: str = "astro"
    ) -> None:
        data = results.get(block) or {}
        ours, astro = data.get(ours_key, {}), data.get(astro_key, {})
        a, b = ours.get(key), astro.get(key)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0 and b > 0:
            pairs.append((label, float(a), float(b), unit))

    add("DAG-parse: import of operator + sensor (CPU)", "imports", "provider_cpu_ms", "ms")
    n = (results.get("triggers") or {}).get("ours", {}).get("n", "")
    add(f"Triggerer ({n} triggers): CPU, whole run", "triggers", "cpu_s", "s")
    add("Triggerer: CPU while polling", "triggers", "cpu_polling_per_s", "s/s")
    add("Triggerer: peak RSS growth", "triggers", "rss_growth_mb", "MB")
    add("Triggerer: requests sent", "triggers", "requests", "")
    add("Triggerer: state change to last event", "triggers", "deliver_s", "s")
    add("Hook: time per sequential PATCH", "hook", "ms_per_call", "ms")
    # Not the rate-limited DAG run's elapsed time: a side whose tasks fail on 429 finishes sooner.
    return pairs


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as source:
        results = json.load(source)
    pairs = _pairs(results)
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(pairs), 1) + 1.6), dpi=110)
    if not pairs:
        ax.text(0.5, 0.5, "no figures with both sides measured", ha="center", va="center")
        ax.set_axis_off()
    else:
        labels = [p[0] for p in pairs][::-1]
        ratios = [p[1] / p[2] for p in pairs][::-1]
        colors = ["#2e7d32" if r <= 1 else "#c62828" for r in ratios]
        y = range(len(pairs))
        ax.barh(list(y), ratios, color=colors, height=0.6)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_yticks(list(y), labels)
        lo, hi = min([*ratios, 1.0]), max([*ratios, 1.0])
        ax.set_xlim(lo / 4, hi * 60)
        for i, (_label, ours, astro, unit) in enumerate(pairs[::-1]):
            r = ratios[i]
            ax.text(
                r * 1.08,
                i,
                f"{r:.2g}x  (ours {_num(ours)} {unit}, astro {_num(astro)} {unit})",
                va="center",
                fontsize=8,
            )
        ax.set_xlabel("ours / airflow-provider-fivetran-async (log scale; < 1: ours costs less)")
        meta = results.get("meta", {})
        ax.set_title(
            f"airflow-provider-fivetran-update vs airflow-provider-fivetran-async {meta.get('astro', '')}\n"
            f"Airflow {meta.get('airflow_ours', '')}, {meta.get('machine', '')}, medians; make bench",
            fontsize=10,
        )
    fig.tight_layout()
    fig.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
