"""Peak memory of process trees while a benchmark runs: one sampler thread, shared by
the memory benchmarks (bench_smollm2.py, bench_padding_memory.py)."""

from __future__ import annotations

import threading
from typing import Callable

import psutil


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss


def pss(process: psutil.Process) -> int:
    """Proportional set size: pages shared copy-on-write count once over their sharers,
    so a fork pool's sum is what it really holds. RSS where PSS cannot be read."""
    try:
        return process.memory_full_info().pss
    except psutil.AccessDenied:
        return process.memory_info().rss


def tree_bytes(root: psutil.Process, measure: Callable[[psutil.Process], int] = rss) -> int:
    """`measure` summed over a process and all its descendants."""
    return sum(measure(x) for x in [root, *root.children(recursive=True)])


class PeakMemory:
    """Samples named process trees every `period_s` while in a `with` block; `peak` holds
    each tree's highest sum and, under "total", the highest sum of all trees at once.

        with PeakMemory({"pool": (pool, pss), "orchestrator": (orch, rss)}) as mem:
            run.finish()
        mem.peak["total"]
    """

    def __init__(
        self, trees: dict[str, tuple[psutil.Process, Callable[[psutil.Process], int]]], period_s: float = 0.25
    ) -> None:
        self.trees, self.period_s = trees, period_s
        self.peak = {**{name: 0 for name in trees}, "total": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        try:
            now = {name: tree_bytes(proc, how) for name, (proc, how) in self.trees.items()}
        except psutil.Error:  # a process ended between listing and reading it: skip this sample
            return
        for name, v in now.items():
            self.peak[name] = max(self.peak[name], v)
        self.peak["total"] = max(self.peak["total"], sum(now.values()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.period_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
