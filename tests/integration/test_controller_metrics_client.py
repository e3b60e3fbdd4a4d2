"""The orchestrator's controller-backed metrics source against the controller's
real northbound WSGI app served over HTTP on loopback (the view behind it is a
stand-in: the network state is not what is tested here), including the
controller going away and the stale-figures policy."""

import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from controller_app.northbound import NorthboundApp
from edgeft.paths_api import PathAnswer
from orchestrator.network_view import ControllerMetrics, NodeAddress


def _answer(ip, bw, delay, loss, samples, updated_at):
    """A record as the controller app sends it (its one schema, edgeft/paths_api.py)."""
    return PathAnswer(
        ip=ip,
        bandwidth_mbps=bw,
        available_mbps=bw,
        capacity_mbps=bw,
        capacity_source="train" if bw else None,
        capacity_samples=3 if bw else 0,
        delay_ms=delay,
        loss_pct=loss,
        loss_ci95_pct=[0.0, 5.0] if samples else None,
        samples=samples,
        updated_at=updated_at,
    ).model_dump()


class View:
    def health(self):
        return {"ok": True}

    def topology(self):
        return {}

    def known_host(self, ip):
        return ip == "10.0.0.1"

    def measuring_point(self):
        return "10.0.0.1", None  # the controller measures from the orchestrator's host

    def paths_from(self, src):
        return [
            _answer("10.1.0.2", 7.5, 40.0, 1.0, 50, time.time()),
            _answer("10.1.0.3", 3.0, None, None, 0, None),
        ]

    def set_capacity(self, *a):
        pass


class Quiet(WSGIRequestHandler):
    def log_message(self, *a):
        pass


def test_controller_metrics_fresh_then_stale_then_dropped():
    server = make_server("127.0.0.1", 0, NorthboundApp(View()), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    nodes = [NodeAddress("node-01", "10.1.0.2"), NodeAddress("node-02", "10.1.0.3"), NodeAddress("node-03", "10.1.0.9")]
    src = ControllerMetrics(url, "10.0.0.1", stale_after_s=1.0, timeout_s=1.0)
    snap = src.snapshot(nodes)
    assert set(snap) == {"node-01", "node-02"}  # node-03 unknown to the controller
    assert snap["node-01"].delay_ms == 40.0 and not snap["node-01"].stale and snap["node-01"].loss_samples == 50
    # node-02's delay and loss are not measured yet: missing (neutral), its bandwidth kept
    assert snap["node-02"].bandwidth_mbps == 3.0 and snap["node-02"].missing == ["delay_ms", "loss_pct"]
    assert ControllerMetrics(url, "10.9.9.9", 1.0).snapshot(nodes) == {}  # 409: not measured from there
    server.shutdown()
    server.server_close()
    stale = src.snapshot(nodes)
    assert stale["node-01"].stale and stale["node-01"].bandwidth_mbps == 7.5
    time.sleep(1.2)
    assert src.snapshot(nodes) == {}  # past the staleness limit: score on compute and time only


class Restarted(View):
    """A controller back after a restart: it has measured node-02 again but not node-01 yet."""

    def paths_from(self, src):
        return [
            _answer("10.1.0.2", None, None, None, 0, None),
            _answer("10.1.0.3", 5.0, 20.0, 0.0, 10, time.time()),
        ]


def _serve(view):
    server = make_server("127.0.0.1", 0, NorthboundApp(view), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_after_a_restart_unmeasured_nodes_keep_last_known_figures_marked_stale():
    nodes = [NodeAddress("node-01", "10.1.0.2"), NodeAddress("node-02", "10.1.0.3")]
    first, url = _serve(View())
    src = ControllerMetrics(url, "10.0.0.1", stale_after_s=1.0, timeout_s=1.0)
    assert set(src.snapshot(nodes)) == {"node-01", "node-02"}
    first.shutdown()
    first.server_close()
    second, url2 = _serve(Restarted())
    src.base_url = url2  # a new port: the old server is really gone
    snap = src.snapshot(nodes)
    assert not snap["node-02"].stale and snap["node-02"].delay_ms == 20.0  # fresh again where measured
    assert snap["node-01"].stale and snap["node-01"].delay_ms == 40.0  # not yet: last-known, marked stale
    time.sleep(1.2)
    snap = src.snapshot(nodes)
    assert set(snap) == {"node-02"} and not snap["node-02"].stale  # node-01's old figures expired
    second.shutdown()
    second.server_close()
