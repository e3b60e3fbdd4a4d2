"""A node's epoch as SimGrid steps (simulator/phases.py), checked against the fidelity report's model
without SimGrid: a lone flow's steps (each transfer = one round trip of latency + wire bytes at the
link's rate, capped where loss caps it; waits as they are) add up to orchestrator/fidelity.py's prediction."""

import math

import pytest

from edgeft.link_figures import LinkFigures
from orchestrator import fidelity
from simulator import phases
from simulator.phases import NodeEpoch


def lone_flow_s(steps, link, phase):
    """What a lone flow's steps of `phase` take on this link (SimGrid's model with factors 1)."""
    rtt, link_bytes_s = link.delay_ms / 1000, link.bandwidth_mbps * 1e6 / 8
    total = 0.0
    for s in steps:
        if s.phase != phase:
            continue
        if s.is_transfer:
            rate = min(link_bytes_s, s.rate_cap) if s.rate_cap else link_bytes_s
            total += rtt + s.wire_bytes / rate
        else:
            total += s.seconds
    return total


LINKS = [
    LinkFigures(7.5, 78.5, 0.0),  # no loss
    LinkFigures(7.5, 78.5, 0.05),  # few losses on small transfers: recovery round trips
    LinkFigures(0.75, 52.4, 1.0),  # Setup 2's slow node
    LinkFigures(84.0, 19.0, 2.5),  # many losses: the Mathis bound
]


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("nbytes, pad", [(64_000, 0), (1_800_000, 0), (64_000, 2_000_000)])
def test_download_steps_add_up_to_the_fidelity_prediction(link, nbytes, pad):
    plan = NodeEpoch("n", active=False, download_bytes=nbytes, download_pad=pad)
    steps = phases.node_steps(plan, link)
    assert lone_flow_s(steps, link, "download") == pytest.approx(
        fidelity.predict_download_s(nbytes, pad, link), rel=1e-4
    )
    assert all(s.phase == "download" for s in steps)  # a benched node only downloads


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("cwnd", [fidelity.INIT_CWND, 40.0])
@pytest.mark.parametrize("nbytes, pad", [(64_000, 0), (1_800_000, 0), (64_000, 2_000_000)])
def test_a_download_from_a_window_adds_up_to_the_connection_model(link, cwnd, nbytes, pad):
    conn = fidelity.NodeConnection(server_cwnd=cwnd)
    plan = NodeEpoch("n", active=False, download_bytes=nbytes, download_pad=pad, download_cwnd=cwnd)
    steps = phases.node_steps(plan, link)
    assert lone_flow_s(steps, link, "download") == pytest.approx(conn.download_s(nbytes, pad, link), rel=1e-4)


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("after_sync", [True, False])
@pytest.mark.parametrize("cwnd", [fidelity.INIT_CWND, 40.0, math.inf])
@pytest.mark.parametrize("nbytes, pad", [(64_000, 0), (5_000_000, 0), (64_000, 2_000_000), (3000, 0)])
def test_upload_steps_add_up_to_the_connection_model(link, after_sync, cwnd, nbytes, pad):
    """The node's window when its upload starts is what fidelity.NodeConnection says after the compute
    window; from it, the steps take what the connection model predicts for a lone flow."""
    conn = fidelity.NodeConnection(node_cwnd=cwnd)
    predicted = conn.upload_s(nbytes, pad, link, after_sync=after_sync, compute_s=0.0)  # no idle: cwnd as given
    plan = NodeEpoch(
        "n",
        active=True,
        download_bytes=64_000 if after_sync else 0,
        compute_s=12.5,
        upload_bytes=nbytes,
        upload_pad=pad,
        upload_cwnd=cwnd,
    )
    steps = phases.node_steps(plan, link)
    assert lone_flow_s(steps, link, "upload") == pytest.approx(predicted, rel=1e-4)
    assert sum(s.seconds for s in steps if s.phase == "compute") == 12.5


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("nbytes, pad", [(64_000, 0), (64_000, 2_000_000)])
def test_a_fresh_upload_is_the_stateless_prediction(link, nbytes, pad):
    """Without padding the connection model and the stateless prediction (a fresh window) agree."""
    plan = NodeEpoch("n", True, 64_000, 0, 1.0, nbytes, pad, upload_cwnd=fidelity.INIT_CWND)
    expected = fidelity.predict_upload_s(nbytes, pad, link, after_sync=True)
    got = lone_flow_s(phases.node_steps(plan, link), link, "upload")
    if pad:  # the stateless prediction sends the update from an open window, the connection from the grown one
        assert got >= expected * (1 - 1e-4)
    else:
        assert got == pytest.approx(expected, rel=1e-4)


def test_sizes_are_ints_and_loss_caps_downloads_only():
    link = LinkFigures(21.0, 19.0, 3.0)
    steps = phases.node_steps(NodeEpoch("n", True, 500_000_000, 0, 1.0, 500_000_000), link)
    assert all(isinstance(s.wire_bytes, int) for s in steps)
    down = [s for s in steps if s.is_transfer and s.phase == "download"]
    up = [s for s in steps if s.is_transfer and s.phase == "upload"]
    mathis = fidelity.loss_limited_bps(link) / 8 * fidelity.WIRE_PER_PAYLOAD
    # 500 MB: all but its slow start (~33 segments before the first loss at 3 %) at the loss-limited rate
    assert mathis < down[0].rate_cap < mathis * 1.0001
    assert up[0].rate_cap is None  # the shaping drops server -> node packets only
    assert down[0].wire_bytes == pytest.approx(500_000_000 * 1514 / 1448, abs=1)


def test_order_download_round_trips_compute_upload():
    steps = phases.node_steps(NodeEpoch("n", True, 1000, 0, 3.0, 1000), LinkFigures(10.0, 20.0, 0.0))
    assert [(s.phase, s.kind) for s in steps] == [
        ("download", "transfer"),
        ("upload", "wait"),  # the SYNC delivery and ack, the TRAIN poll (the POST's own trip is its latency)
        ("compute", "wait"),
        ("upload", "transfer"),
    ]
    assert steps[1].seconds == pytest.approx(2 * 0.020)


def test_a_first_flight_is_the_transfer_and_an_empty_one_a_round_trip():
    link = LinkFigures(100.0, 100.0, 0.0)  # big BDP: 3000 bytes go in the first flight, which waits for no ACK
    steps = phases.upload_steps(3000, link, fidelity.INIT_CWND)
    assert [s.kind for s in steps] == ["transfer"] and steps[0].wire_bytes == phases.wire_bytes(3000)
    waited = phases.upload_steps(30 * 1448, link, fidelity.INIT_CWND)  # 10 segments wait, 20 are the transfer
    assert [(s.kind, s.seconds) for s in waited][0] == ("wait", pytest.approx(0.1))
    assert waited[1].wire_bytes == phases.wire_bytes(20 * 1448)
    empty = phases.upload_steps(0, link, fidelity.INIT_CWND)  # SimGrid mistimes empty messages: a round trip
    assert [(s.kind, s.seconds) for s in empty] == [("wait", pytest.approx(0.1))]


@pytest.mark.parametrize(
    "field, value",
    [
        ("download_bytes", 1.5),
        ("upload_bytes", -1),
        ("download_pad", True),
        ("compute_s", -1.0),
        ("upload_cwnd", 0.5),
        ("download_cwnd", math.nan),
    ],
)
def test_bad_plans_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        NodeEpoch("n", True, **{field: value})
