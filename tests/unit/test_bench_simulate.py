"""The simulator benchmark builds the plans it times (no SimGrid: the plans only). A NodeEpoch field added
before `upload_cwnd` once made it pass epoch 0's "fresh window" flag as the window itself, and every
`bench_simulate.py --runs` call failed before timing anything."""

import math

from experiments.bench_simulate import ADAPTER_BYTES, plans_for
from orchestrator import fidelity


def test_the_benchmark_plans_are_ar_epochs_with_a_fresh_window_first_and_open_ones_after() -> None:
    tree, plans = plans_for(20, 3, "real")
    assert len(plans) == 3 and all(len(plan.nodes) == 20 for plan in plans)
    first, later = plans[0].nodes[0], plans[1].nodes[0]
    assert not first.downloads and first.upload_cwnd == fidelity.INIT_CWND  # the set-up delivered the model
    assert later.download_bytes == ADAPTER_BYTES and math.isinf(later.upload_cwnd)
    assert all(node.active and node.compute_s > 0 for plan in plans for node in plan.nodes)
