"""Fidelity figures on hand-made rows: overrun share, transfer prediction, R^2."""

import math

import pytest

from orchestrator.fidelity import (
    Link,
    assess,
    link_rate_bps,
    mathis_bps,
    overran,
    predict_download_s,
    predict_upload_s,
    r_squared,
    transfer_pairs,
    transfer_s,
)


def _row(node, epoch, t, wall, down="", up=""):
    return {
        "node_id": node,
        "epoch": str(epoch),
        "train_time_s": str(t),
        "compute_wall_s": str(wall),
        "download_s": str(down),
        "upload_s": str(up),
    }


def test_overrun_rule_has_a_ratio_and_a_slack():
    assert not overran(1.0, 1.09) and overran(1.0, 1.11)
    assert not overran(0.1, 0.15) and overran(0.1, 0.16)


def test_overrun_share_and_p95_on_hand_made_rows():
    rows = [_row("a", e, 1.0, 1.0) for e in range(18)] + [_row("b", 0, 1.0, 2.0), _row("b", 1, 1.0, 3.0)]
    fid = assess(rows, None)
    assert fid.node_epochs == 20 and fid.overrun_share == pytest.approx(0.1)
    assert fid.overrun_p95 == pytest.approx(2.05)  # numpy's linear percentile between 2.0 and 3.0
    assert not fid.acceptable and fid.transfers == "not applicable" and math.isnan(fid.transfer_r2)


def test_tcp_model_rate_loss_and_slow_start():
    clean = Link(8.0, 0.0, 0.0)
    assert transfer_s(1_000_000, clean) == pytest.approx(1_000_000 * 8 / link_rate_bps(clean))
    short = Link(100.0, 100.0, 1.0)  # 100 segments at 1 %: one expected loss, one RTT to recover
    line = 144_800 * 8 / link_rate_bps(short)
    assert transfer_s(144_800, short, lossy=True) == pytest.approx(line + 0.1)
    assert transfer_s(144_800, short) == pytest.approx(line)  # the other direction loses only ACKs
    long = 10_000 * 1448  # 100 expected losses: Mathis, 1448 * 8 / 0.1 * 1.22 / 0.1 = 1.41 Mb/s
    assert mathis_bps(short) == pytest.approx(1448 * 8 / 0.1 * 12.2)
    assert transfer_s(long, short, lossy=True) == pytest.approx(long * 8 / mathis_bps(short))
    slow = Link(100.0, 100.0, 0.0)  # BDP 1.2 MB: 3 x 14.5 KB from a fresh window = 10 + 20 segments, then the rest
    assert transfer_s(3 * 14_480, slow, fresh=True) == pytest.approx(0.2)  # rounds of 10 and 20 segments
    assert transfer_s(4 * 14_480, slow, fresh=True) == pytest.approx(0.3)  # and a third round for the last 10
    assert transfer_s(4 * 14_480, slow) == pytest.approx(4 * 14_480 * 8 / link_rate_bps(slow))  # window already open
    assert predict_download_s(0, 0, slow) == pytest.approx(0.1)
    assert predict_upload_s(0, 0, slow, after_sync=True) == pytest.approx(0.3)
    assert predict_upload_s(0, 0, slow, after_sync=False) == pytest.approx(0.1)


def test_transfers_are_compared_with_the_drawn_links():
    links = {("a", 0): Link(1.0, 50.0, 0.0), ("b", 0): Link(10.0, 10.0, 0.0), ("a", 1): Link(1.0, 50.0, 0.0)}
    size = 100_000
    truth = {
        k: (predict_download_s(size, 0, v), predict_upload_s(size, 0, v, after_sync=True)) for k, v in links.items()
    }
    rows = [_row(n, e, 1, 1, down=d, up=u) for (n, e), (d, u) in truth.items()]
    exact = assess(rows, links, (size, size))
    assert (
        exact.transfer_phases == 6 and exact.transfer_r2 == pytest.approx(1.0) and exact.transfer_median_rel_err < 1e-9
    )
    assert exact.transfer_above_share == pytest.approx(0.0)
    slow = [_row(n, e, 1, 1, down=2 * d, up=2 * u) for (n, e), (d, u) in truth.items()]
    doubled = assess(slow, links, (size, size))
    assert doubled.transfer_median_rel_err == pytest.approx(1.0) and doubled.transfer_above_share == pytest.approx(0.5)
    assert doubled.transfer_r2 < 0.5
    phases = transfer_pairs(slow, links, (size, size), (0, 0))  # the points behind the figures, labelled
    assert [(p.node_id, p.epoch, p.direction) for p in phases][:2] == [("a", 0, "download"), ("a", 0, "upload")]
    assert all(p.measured_s == pytest.approx(2 * p.predicted_s) for p in phases)


def test_r_squared():
    assert r_squared([1, 2, 3], [1, 2, 3]) == 1.0
    assert r_squared([1, 2, 3], [2, 2, 2]) == pytest.approx(0.0)
    assert math.isnan(r_squared([1.0], [1.0]))
