"""The paper's edge-to-cloud topology in Mininet.

    server (orchestrator, 10.0.0.1) -- core switch -- aggregation switches -- D gateway switches -- edge hosts

Each edge host's drawn profile (bandwidth, delay, loss; topologies/profiles.py)
is realised on its access link (gateway <-> host) by topologies/shaping.py. A
gateway's uplink is shared by its domain: its capacity is `uplink_factor` x the
fastest access rate in the domain, so one node alone gets its full rate but
busy nodes of a domain contend, as in the paper's dynamic network.

    sudo python topologies/edge_cloud.py --nodes 12 --setup 2 --cli
    printf 'pingall\\nexit\\n' | sudo python topologies/edge_cloud.py --nodes 4 --standalone --cli

While it runs (with or without --cli; without, until Ctrl-C) it describes the
running network in ./edgeft-net.json (--describe PATH; topologies/description.py),
which `edgeft compare --attach edgeft-net.json` reads to run experiments in it.
The server host reaches the controller's REST API (--controller-rest, loopback by
default) through a relay at 10.254.0.1 in the root namespace; the switches reach its
OpenFlow port on loopback. The description names the controller's token file
(--controller-token-file; default where `edgeft controller` keeps it when started in
the same directory), never the token.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller_app import tokens  # noqa: E402
from edgeft.clock import Clock  # noqa: E402
from topologies import description, leftovers  # noqa: E402
from topologies.profiles import NodeProfile, as_ground_truth, draw_profiles  # noqa: E402
from topologies.rest_relay import RestRelay  # noqa: E402
from topologies.shaping import LinkShape, Shaper, choose_backend  # noqa: E402

log = logging.getLogger(__name__)
SERVER_IP = "10.0.0.1"
ROOT_IP = "10.254.0.1"  # the root namespace's foot in the network (controller REST for the orchestrator)
CORE_BW_MBPS = 1000.0


def node_ip(index: int) -> str:
    """Edge host i (1-based) gets 10.1.x.y."""
    return f"10.1.{index // 250}.{index % 250 + 1}"


def ovs_kernel_available() -> bool:
    if Path("/sys/module/openvswitch").exists():
        return True
    return subprocess.run(["modprobe", "-n", "-q", "openvswitch"], capture_output=True).returncode == 0


@dataclass
class EdgeCloudNet:
    """A started network and what it needs to shape, run processes and tear down."""

    net: object
    profiles: list[NodeProfile]
    hosts: dict[str, object]  # node id -> Mininet host
    shaper: Shaper
    access: dict[str, tuple] = field(default_factory=dict)  # node id -> (host intf, switch intf)
    link_rates: list[tuple] = field(default_factory=list)  # (link, Mb/s as shaped, i.e. dilated) for every link
    dilation: float = 1.0  # the world runs k times slower: rates / k, delays x k (edgeft/timemodel.py)
    root: object = None  # the root namespace's foot in the network (root_link), kept out of net.hosts

    def capacities(self) -> list[dict]:
        """Capacity of every link as seen from each switch port it hangs on (what the
        controller's PUT /v1/links/capacity takes)."""
        out = []
        for link, mbps in self.link_rates:
            for intf in (link.intf1, link.intf2):
                node = intf.node
                if hasattr(node, "dpid"):
                    out.append({"dpid": int(node.dpid, 16), "port": node.ports[intf], "mbps": mbps})
        return out

    def register_capacities(self, controller_url: str, token: str = "", timeout: float = 5.0) -> None:
        import requests

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = requests.put(
            controller_url.rstrip("/") + "/v1/links/capacity",
            json={"links": self.capacities()},
            headers=headers,
            timeout=timeout,
        )
        resp.raise_for_status()

    @property
    def clock(self) -> Clock:
        """The run's clock: the links are shaped on its wall."""
        return Clock(self.dilation)

    @property
    def server(self):
        return self.net.get("server")

    def set_shape(self, node_id: str, shape: LinkShape) -> None:
        """Change a node's access link; its capacity in `link_rates` follows (re-register
        capacities with the controller to let its bandwidth figure see the change)."""
        host_intf, switch_intf = self.access[node_id]
        real = shape.on_wall(self.clock)
        self.shaper.update(self.hosts[node_id], host_intf, switch_intf, real)
        self.link_rates = [
            (link, real.rate_mbps if link.intf1 is host_intf else mbps) for link, mbps in self.link_rates
        ]

    def stop(self) -> None:
        try:
            self.shaper.stop()
        finally:
            if self.root is not None:
                self.root.terminate()  # not in net.hosts (pingall would try it), so net.stop does not
            _stop_net(self.net)


def _stop_net(net) -> None:
    """net.stop(), then the controller nodes' shells: Mininet's RemoteController.stop() does nothing,
    so each network would leave its controller node's bash running until this process exits."""
    try:
        net.stop()
    finally:
        for controller in net.controllers:
            if controller.shell is not None and controller.shell.poll() is None:  # a local one's stop() ended it
                controller.terminate()


def build(
    profiles: list[NodeProfile],
    domains: int = 4,
    controller: tuple[str, int] | None = ("127.0.0.1", 6653),
    shaping: str = "auto",
    uplink_factor: float = 2.0,
    run_dir: Path | None = None,
    root_link: bool = False,
    dilation: float = 1.0,
) -> EdgeCloudNet:
    """Build and start the network for these node profiles, every link dilated by k =
    `dilation` (rates / k, delays x k); the caller must call .stop() (use try/finally)."""
    from mininet.net import Mininet
    from mininet.node import OVSSwitch, RemoteController

    n_nodes = len(profiles)
    run_dir = Path(run_dir or f"/tmp/edgeft-topo-{os.getpid()}")
    run_dir.mkdir(parents=True, exist_ok=True)
    domains = max(1, min(domains, n_nodes))
    n_aggs = math.ceil(domains / 2)
    leftovers.ensure_free(["s1", "root"] + [f"a{i + 1}" for i in range(n_aggs)] + [f"g{d + 1}" for d in range(domains)])
    datapath = "kernel" if ovs_kernel_available() else "user"
    log.info("Open vSwitch datapath: %s", datapath)
    sw_opts = {"protocols": "OpenFlow13", "datapath": datapath}
    if controller is None:
        sw_opts["failMode"] = "standalone"
    from topologies.quiet_tc import QuietTCLink

    net = Mininet(switch=OVSSwitch, link=QuietTCLink, controller=None, autoSetMacs=True, build=False)
    if controller is not None:
        net.addController("c0", controller=RemoteController, ip=controller[0], port=controller[1])
    try:  # a half-built network is stopped, or its veths outlive this process
        clock = Clock(dilation)
        hosts, access_links, rates = _wire(net, profiles, domains, n_aggs, sw_opts, uplink_factor, root_link, clock)
        net.build()
        net.start()
        leftovers.mark(net)  # a run killed from here on is cleaned up by the next one
    except BaseException:
        _stop_net(net)
        raise
    root = None
    if root_link:
        root = net.get("root")
        _root_routes(root)
        net.hosts.remove(root)  # a host only the server can reach: the CLI's pingall must not count it
    shaper = Shaper(choose_backend(shaping), run_dir)
    edge = EdgeCloudNet(net, profiles, hosts, shaper, link_rates=rates, dilation=dilation, root=root)
    try:
        for host in net.hosts:
            for intf in host.intfList():
                host.cmd(f"ethtool -K {intf} tx off rx off")  # userspace datapath: no checksum offload
            pin_tcp(host)
        for p in profiles:
            link = access_links[p.node_id]
            edge.access[p.node_id] = (link.intf1, link.intf2)
            shaper.apply(hosts[p.node_id], link.intf1, link.intf2, LinkShape.of(p).on_wall(edge.clock))
    except BaseException:
        edge.stop()
        raise
    return edge


def _wire(
    net,
    profiles: list[NodeProfile],
    domains: int,
    n_aggs: int,
    sw_opts: dict,
    uplink_factor: float,
    root_link: bool,
    clock: Clock = Clock.identity(),
) -> tuple[dict, dict, list[tuple]]:
    """Add the switches, hosts and links of the tree; returns hosts and access links by
    node id and every link with its rate on the wall (the clock's dilation applied)."""
    core_bw = clock.wall_rate_mbps(CORE_BW_MBPS)
    dpid = iter(range(1, 10_000))
    core = net.addSwitch("s1", dpid=f"{next(dpid):016x}", **sw_opts)
    server = net.addHost("server", ip=f"{SERVER_IP}/8")
    rates: list[tuple] = [(net.addLink(server, core, bw=core_bw), core_bw)]
    if root_link:  # lets the orchestrator (in `server`) reach a controller REST API in the root namespace
        root = net.addHost("root", inNamespace=False, ip=None)
        net.addLink(root, core)
    aggs = [net.addSwitch(f"a{i + 1}", dpid=f"{next(dpid):016x}", **sw_opts) for i in range(n_aggs)]
    for agg in aggs:
        rates.append((net.addLink(agg, core, bw=core_bw), core_bw))
    hosts, access_links = {}, {}
    for d in range(domains):
        members = [(i, p) for i, p in enumerate(profiles, 1) if (i - 1) % domains == d]
        gw = net.addSwitch(f"g{d + 1}", dpid=f"{next(dpid):016x}", **sw_opts)
        uplink = clock.wall_rate_mbps(min(CORE_BW_MBPS, uplink_factor * max(p.bandwidth_mbps for _, p in members)))
        rates.append((net.addLink(gw, aggs[d // 2], bw=uplink), uplink))
        for i, p in members:
            host = net.addHost(f"n{i}", ip=f"{node_ip(i)}/8")
            access_links[p.node_id] = net.addLink(host, gw)
            rates.append((access_links[p.node_id], clock.wall_rate_mbps(p.bandwidth_mbps)))
            hosts[p.node_id] = host
    return hosts, access_links, rates


# Every transfer's time depends on the hosts' TCP. A new network namespace inherits the machine's
# default congestion control (BBR on some machines: its paced restart after idle keeps a window that
# Reno and CUBIC halve per retransmission timeout), and may only choose another one that the machine
# allows (net.ipv4.tcp_allowed_congestion_control). A route's congctl has neither limit: every host's
# routes carry Reno, so the emulated world is the same on every machine and is the one the fidelity
# model (orchestrator/fidelity.py) predicts; both ends of a connection take it from the route.
# Reno, not Linux's default CUBIC, because the emulation dilates time and the kernel's clock does not:
# Reno grows its window per acknowledgement, the same at any k, while CUBIC grows it on the wall clock,
# so at k = 8 a lossy long flow got the window of an 8x longer round trip (Setup 1's set-ups over 2-3 %
# loss ran 2-2.7x faster than at k = 1: docs/limits.md). At k = 1 CUBIC is Reno-friendly on the paper's
# lossy links (RTT below 1.2 x p^(1/3) s: all but 0-6 % of drawn nodes), so Reno at any k is that world.
HOST_CONGESTION_CONTROL = "reno"
HOST_SLOW_START_AFTER_IDLE = 1


def pin_tcp(host) -> None:
    """Pin `host`'s TCP (never the root namespace's): HOST_CONGESTION_CONTROL on each of its routes,
    HOST_SLOW_START_AFTER_IDLE. Where the kernel refuses, a loud warning: the run still
    goes, its config.json records the TCP that carried it, and its fidelity report shows the cost."""
    routes = [line.strip() for line in host.cmd("ip route show").splitlines() if line.strip()]
    script = [f"sysctl -q -w net.ipv4.tcp_slow_start_after_idle={HOST_SLOW_START_AFTER_IDLE}"]
    script += [f"ip route change {r} congctl {HOST_CONGESTION_CONTROL}" for r in routes if "congctl" not in r]
    out = host.cmd(" && ".join(script) + " && echo pinned")
    if "pinned" not in out:
        log.warning(
            "could not pin TCP (%s) in host %s (%s): its transfers follow this machine's default, which the "
            "fidelity model does not predict",
            HOST_CONGESTION_CONTROL,
            host.name,
            out.strip()[:200],
        )


def _root_routes(root) -> None:
    """Only the server's address is routed to the root namespace: a 10/8 route there
    could hijack a real 10.x network of the machine."""
    intf = root.defaultIntf().name
    root.cmd(
        f"ip addr flush dev {intf}; ip addr add {ROOT_IP}/32 dev {intf}; ip link set {intf} up; "
        f"ip route add {SERVER_IP}/32 dev {intf}"
    )
    root.cmd(f"ethtool -K {intf} tx off rx off")


def main(argv: list[str] | None = None) -> int:
    """`python topologies/edge_cloud.py`: build the network, describe it, serve until stopped."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    checked = _check(args)
    if isinstance(checked, int):
        return checked
    rest, token_file = checked
    from mininet.log import setLogLevel

    setLogLevel("output")  # the CLI prints through Mininet's log at this level
    from edgeft.signals import MININET_GRACE_S, teardown_on_signals

    # SIGTERM/SIGHUP stop the network (the Mininet CLI would swallow a KeyboardInterrupt)
    teardown_on_signals(SystemExit, grace_s=MININET_GRACE_S)
    out = Path(args.out or f"/tmp/edgeft-topo-{os.getpid()}")
    profiles = draw_profiles(args.nodes, args.setup, args.seed)
    edge = build(
        profiles,
        args.domains,
        None if args.standalone else (args.controller_ip, args.controller_port),
        args.shaping,
        run_dir=out,
        root_link=not args.standalone,
        dilation=args.dilation,
    )
    _describe_and_serve(edge, args, out, rest, token_file)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=12)
    p.add_argument("--setup", type=int, default=2, choices=[1, 2, 3])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domains", type=int, default=4)
    p.add_argument("--standalone", action="store_true", help="switches learn on their own; no controller")
    p.add_argument("--controller-ip", default="127.0.0.1")
    p.add_argument("--controller-port", type=int, default=6653)
    p.add_argument(
        "--controller-rest",
        default="http://127.0.0.1:8080",
        help="the controller's REST API; the server host reaches it through a relay at 10.254.0.1",
    )
    p.add_argument(
        "--controller-token-file",
        default="",
        help="the controller's token file (default .edgeft/controller-<REST port>.token here, where `edgeft "
        "controller` keeps it); named in the description for `compare --attach`, read for --capacity-hints",
    )
    p.add_argument(
        "--controller-token", default="", help="DISCOURAGED (visible to every user): use --controller-token-file"
    )
    p.add_argument(
        "--capacity-hints",
        action="store_true",
        help="register the drawn link rates with the controller (off: it measures them; docs/controller.md)",
    )
    p.add_argument("--shaping", default="auto", choices=["auto", "netem", "fallback"])
    p.add_argument("--out", default=None, help="folder for ground_truth.json and shaping state")
    p.add_argument(
        "--describe", default=description.DEFAULT_PATH, help="where to describe the running network (removed on exit)"
    )
    p.add_argument(
        "--dilation",
        type=float,
        default=1.0,
        help="time dilation k >= 1: links run k times slower (rates / k, delays x k; docs/time-model.md)",
    )
    p.add_argument("--cli", action="store_true", help="open the Mininet CLI (reads commands from stdin)")
    return p


def _check(args: argparse.Namespace) -> tuple | int:
    """The flags checked before anything starts: (the controller's REST address split, its token
    file or None) or the exit code (2) after one line naming the fix."""
    if os.geteuid() != 0:
        print("edge_cloud: Mininet needs root: run it with sudo", file=sys.stderr)
        return 2
    if args.dilation < 1:
        print("edge_cloud: --dilation must be >= 1 (1: real time)", file=sys.stderr)
        return 2
    rest = urlsplit(args.controller_rest)
    if not args.standalone and (rest.scheme != "http" or not rest.hostname or not rest.port):
        print(
            f"edge_cloud: --controller-rest {args.controller_rest!r}: give http://HOST:PORT, e.g. http://127.0.0.1:8080",
            file=sys.stderr,
        )
        return 2
    if args.controller_token:
        print(
            "edge_cloud: warning: --controller-token shows the token to every user of this machine; "
            "use --controller-token-file FILE",
            file=sys.stderr,
        )
    token_file = _token_file(args.controller_token_file, rest.port) if not args.standalone else None
    if token_file is not None and not token_file.exists():
        print(
            f"edge_cloud: warning: no controller token file at {token_file} (yet): `compare --attach` needs it; "
            "name the controller's with --controller-token-file",
            file=sys.stderr,
        )
    if args.capacity_hints and not args.controller_token and not (token_file and tokens.read_token(token_file)):
        print(
            f"edge_cloud: --capacity-hints: no controller token in {token_file}: start the controller first, "
            "or name its token file with --controller-token-file",
            file=sys.stderr,
        )
        return 2
    return rest, token_file


def _describe_and_serve(
    edge: "EdgeCloudNet", args: argparse.Namespace, out: Path, rest: SplitResult, token_file: Path | None
) -> None:
    """Write the ground truth and the network's description (for `compare --attach`), relay the
    controller's REST API to the server host, serve until stopped, and tear everything down."""
    relay, described = None, Path(args.describe)
    try:
        truth = as_ground_truth(edge.profiles, args.setup, args.seed)
        (out / "ground_truth.json").write_text(json.dumps(truth, indent=2))
        controller = {}
        if not args.standalone:
            relay = RestRelay((ROOT_IP, rest.port), (rest.hostname, rest.port)).start()
            controller = {
                "openflow": f"{args.controller_ip}:{args.controller_port}",
                "rest": args.controller_rest.rstrip("/"),
                "rest_from_server": f"http://{ROOT_IP}:{rest.port}",
                "token_file": str(token_file),
            }
            if args.capacity_hints:
                edge.register_capacities(args.controller_rest, args.controller_token or tokens.read_token(token_file))
        description.write(described, description.describe(edge, args.setup, args.seed, controller, truth))
        log.info(
            "%d edge hosts up; ground truth in %s; network described in %s",
            args.nodes,
            out / "ground_truth.json",
            described,
        )
        _serve(edge, args.cli)
    finally:
        described.unlink(missing_ok=True)
        if relay is not None:
            relay.stop()
        edge.stop()


def _token_file(given: str, rest_port: int) -> Path:
    """The controller's token file, absolute: the one given, else where `edgeft controller`
    started in this directory keeps it (controller_app/tokens.py)."""
    return (Path(given) if given else tokens.default_path(rest_port)).resolve()


def _serve(edge: EdgeCloudNet, cli: bool) -> None:
    """The Mininet CLI on stdin, or (without --cli) wait for Ctrl-C or SIGTERM."""
    if cli:
        from mininet.cli import CLI

        CLI(edge.net, stdin=sys.stdin)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    log.info("network up; Ctrl-C stops it")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
