"""What /proc says about a server's processes: its workers, and their memory."""

from __future__ import annotations

from pathlib import Path


def with_children(root: int) -> list[int]:
    """`root` and its direct children (a gunicorn master and its workers)."""
    pids = [root]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == root:
                pids.append(int(proc.name))
    return pids


def _sum_kb(pids: list[int], file: str, field: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass  # the process has just exited
    return total


def pss_mb(pids: list[int]) -> float:
    """Proportional set size, summed: shared pages counted once across the processes."""
    return _sum_kb(pids, "smaps_rollup", "Pss:") / 1024


def rss_bytes(pids: list[int]) -> int:
    return _sum_kb(pids, "status", "VmRSS:") * 1024
