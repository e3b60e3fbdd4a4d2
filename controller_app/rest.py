"""The northbound REST API served from inside the controller process: `RestApi` runs the
WSGI app of controller_app/northbound.py on a green thread, over `ControllerView`, the
shared network as the routes see it (what they read, the few things they may change).

Writes need the bearer token: the one given, else the token file's, else one generated
into it with mode 0600 (controller_app/tokens.py); the log says where it is, never what."""

from __future__ import annotations

import logging
import time

from controller_app import tokens
from controller_app.compat import FRAMEWORK, App, hub, ofproto_v1_3
from controller_app.network import EdgeNetwork
from controller_app.northbound import NorthboundApp

log = logging.getLogger("edgeft.controller")


class ControllerView:
    """The northbound routes' view of the shared network (northbound.NetworkView)."""

    def __init__(self, network: EdgeNetwork) -> None:
        self.network = network

    def health(self) -> dict:
        network, settings = self.network, self.network.settings
        return {
            "ok": True,
            "framework": FRAMEWORK,
            "switches": len(network.datapaths),
            "hosts": len(network.graph.hosts),
            "uptime_s": round(time.time() - network.started_at, 1),
            "poll_s": settings.poll_s,
            "probe_hz": settings.probe_hz,
            "train_interval_s": settings.train_interval_s,
            "loss_window": network.monitor.settings.loss_window,
            "measure_from": network.measure_from or "",
            "own_port": network.own_port,
            "settings": settings.model_dump(exclude={"token"}),  # for a run's record; never the token
        }

    def topology(self) -> dict:
        graph = self.network.graph
        links = [
            {"src": link.src_dpid, "src_port": link.src_port, "dst": link.dst_dpid, "dst_port": link.dst_port}
            for link in graph.links()
        ]
        hosts = [
            {"ip": host.ip, "mac": host.mac, "dpid": host.dpid, "port": host.port} for host in graph.hosts.values()
        ]
        return {"switches": sorted(self.network.datapaths), "links": links, "hosts": hosts}

    def known_host(self, ip: str) -> bool:
        return ip in self.network.graph.hosts

    def measuring_point(self) -> tuple[str, int | None]:
        return self.network.measure_from or "", self.network.own_port

    def set_measuring_point(self, src_ip: str, own_port: int | None) -> None:
        self.network.set_measuring_point(src_ip, own_port)

    def paths_from(self, src_ip: str) -> list[dict]:
        """The figures of every path from `src_ip` (a known host); changes nothing."""
        graph = self.network.graph
        src = graph.hosts[src_ip]
        answers = []
        for ip, dst in sorted(graph.hosts.items()):
            if ip == src_ip:
                continue
            links = graph.path_links(src, dst)
            if links is not None:
                answers.append(self.network.monitor.path_figures(ip, links))
        return answers

    def set_capacity(self, dpid: int, port: int, mbps: float) -> None:
        self.network.monitor.capacity[(dpid, port)] = mbps

    def has_port(self, dpid: int, port: int) -> bool:
        return port in self.network.ports.get(dpid, [])

    def reset_estimates(self) -> None:
        log.info("per-node estimates reset (a new experiment starts)")
        self.network.monitor.reset_estimates()


class RestApi(App):
    """Serves the northbound API on the settings' REST host and port."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]
        settings = self.network.settings
        try:
            token, origin = tokens.resolve_token(settings.token, settings.token_path())
        except OSError as exc:
            raise SystemExit(f"edgeft controller app: token file {settings.token_path()}: {exc}") from None
        log.info("write routes need the bearer token %s", origin)  # where it is, never the token
        self.threads.append(hub.spawn(self._serve, token))

    def _serve(self, token: str) -> None:
        host, port = self.network.settings.rest_host, self.network.settings.rest_port
        server = hub.WSGIServer((host, port), NorthboundApp(ControllerView(self.network), token))
        log.info("northbound REST on http://%s:%d (%s)", host, port, FRAMEWORK)
        server.serve_forever()
