"""The benchmarks' peak-memory sampler on a real child process that grows."""

import subprocess
import sys
import time

import psutil

from experiments.measure.peak_memory import PeakMemory, pss, rss, tree_bytes


def test_the_sampler_sees_a_child_grow_and_keeps_the_peak():
    code = (
        "import time; time.sleep(0.4); b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.6)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        me = psutil.Process()
        with PeakMemory({"tree": (me, rss), "child": (psutil.Process(child.pid), pss)}, period_s=0.05) as mem:
            child.wait(timeout=30)
            time.sleep(0.1)
    finally:
        child.kill()
    assert mem.peak["child"] > 200 * 2**20  # the 200 MiB it touched, seen while it lived
    assert mem.peak["tree"] >= mem.peak["child"] * 0.9 and mem.peak["total"] >= mem.peak["tree"]
    assert tree_bytes(psutil.Process()) < mem.peak["tree"]  # the child is gone: the peak stays
