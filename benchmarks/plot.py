"""The load test's PNG: throughput, latency, CPU against users; memory over time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from benchmarks.load import Phase


def plot(phases: list[Phase], path: Path) -> None:
    fig, ((rate, lat), (cpu, mem)) = plt.subplots(2, 2, figsize=(13, 9))
    names = list(dict.fromkeys(p.server for p in phases))
    for i, name in enumerate(names):
        color = f"C{i}"
        runs = sorted((p for p in phases if p.server == name and not p.stall),
                      key=lambda p: p.users)
        users = [p.users for p in runs]
        rate.plot(users, [p.rate for p in runs], "o-", color=color, label=name)
        for q, style in ((50, "o-"), (95, "s--"), (99, "^:")):
            lat.plot(users, [p.pct(q) for p in runs], style, color=color, label=f"{name} p{q}")
        cpu.plot(users, [p.server_cpu for p in runs], "o-", color=color, label=f"{name} server")
        if any(p.db_cpu is not None for p in runs):
            cpu.plot(users, [p.db_cpu or 0 for p in runs], "s--", color=color,
                     label=f"{name} PostgreSQL")
        for j, p in enumerate(p for p in phases if p.server == name):
            t = [m[0] for m in p.memory]
            mem.plot(t, [m[1] for m in p.memory], "-", color=color,
                     label=f"{name} server" if j == 0 else None)
            if p.db_cpu is not None:
                mem.plot(t, [m[2] for m in p.memory], "--", color=color,
                         label=f"{name} PostgreSQL" if j == 0 else None)
            if t:
                mem.annotate(f"{p.users}{'*' if p.stall else ''}", (t[0], p.memory[0][1]),
                             fontsize=7, color=color)
    for ax, title, ylabel in (
        (rate, "Throughput", "complete syncs / s"),
        (lat, "Latency of one complete sync", "ms (log)"),
        (cpu, "CPU (100 % = one core)", "% of one core"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent users")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    rate.set_yscale("log")
    rate.set_ylabel("complete syncs / s (log)")
    lat.set_yscale("log")
    mem.set_title("Memory (PSS) during the phases; labels = users, * = login check")
    mem.set_xlabel("seconds since the server's first phase")
    mem.set_ylabel("MB")
    mem.grid(True, alpha=0.3)
    mem.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
