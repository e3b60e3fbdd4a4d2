"""edgeft's SDN controller (OpenFlow 1.3): small apps in Ryu's manner, composed here.

    osken-manager --ofp-tcp-listen-port 6653 controller_app/edge_monitor.py
    ryu-manager   --ofp-tcp-listen-port 6653 controller_app/edge_monitor.py
    edgeft controller --ofp-port 6653 --rest-port 8080          (wrapper, same app)

The manager loads this module; its `EdgeMonitor` names the apps that make the controller
(`_REQUIRED_APP`, loaded by the manager beside it) and the state they share (`_CONTEXTS`:
one controller_app/network.py `EdgeNetwork`, made by the manager and handed to each):

    forwarding.py  Forwarding  switch set-up, host learning, proxy ARP, one flow per host
    topology.py    Topology    switches, ports, LLDP links; hosts learnt on a link forgotten
    probing.py     Probing     delay/loss probes and capacity trains, and their replies
    port_stats.py  PortStats   echo, port and own-traffic flow statistics, polled
    rest.py        RestApi     the northbound REST API (controller_app/northbound.py)

The math stays apart (measure.py, capacity.py, netgraph.py, path_monitor.py).

Settings: one validated object, controller_app/config.py (ControllerSettings).
The wrapper passes it as EDGEFT_CONTROLLER (JSON); by hand, the single variables
EDGEFT_REST_HOST (127.0.0.1), EDGEFT_REST_PORT (8080), EDGEFT_POLL_S (1.0),
EDGEFT_PROBE_HZ (2.0), EDGEFT_LOSS_WINDOW (600), EDGEFT_PROBE_TIMEOUT_S (2.0; x k in
a dilated run), EDGEFT_TRAIN_INTERVAL_S (10; 0 = no trains), EDGEFT_TOKEN_FILE
(.edgeft/controller-<rest port>.token: the write token, generated there with mode 0600
if the file holds none; EDGEFT_TOKEN gives one instead), EDGEFT_OFP_LISTEN_HOST
(127.0.0.1), EDGEFT_MEASURE_FROM and EDGEFT_OWN_PORT (where the probes start; else
PUT /v1/measure names it), EDGEFT_NICE; EDGEFT_DEBUG=1 logs every train.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # loaded by file path by osken-manager/ryu-manager
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller_app import config  # noqa: E402
from controller_app.compat import App, ofproto_v1_3  # noqa: E402
from controller_app.network import EdgeNetwork  # noqa: E402

log = logging.getLogger("edgeft.controller")
if os.environ.get("EDGEFT_DEBUG"):
    log.setLevel(logging.DEBUG)

# The apps the manager loads beside this one (Ryu's require_app, declared).
_REQUIRED_APP = [
    "controller_app.topology",
    "controller_app.forwarding",
    "controller_app.probing",
    "controller_app.port_stats",
    "controller_app.rest",
]


def _configure_manager() -> None:
    """Set the manager's options this app depends on before its OpenFlow listener starts
    (apps are imported first): LLDP discovery, as --observe-links would, and the OpenFlow
    listen address from the settings (loopback by default; the manager's own
    --ofp-listen-host, where given, wins)."""
    try:
        from os_ken import cfg
        from os_ken.controller import controller  # noqa: F401  (registers ofp_listen_host)
        from os_ken.topology import switches  # noqa: F401  (registers the option)
    except ImportError:  # pragma: no cover
        from ryu import cfg
        from ryu.controller import controller  # noqa: F401
        from ryu.topology import switches  # noqa: F401
    cfg.CONF.set_override("observe_links", True)
    if not any(arg.startswith("--ofp-listen-host") for arg in sys.argv):
        try:
            cfg.CONF.set_override("ofp_listen_host", config.from_env().ofp_listen_host)
        except ValueError:
            pass  # a bad setting: EdgeNetwork names it and stops the manager


_configure_manager()


def _set_niceness(nice: int) -> None:
    """Run ahead of the machine's other work (settings.nice): a packet-in stamped only when
    a busy CPU gets round to the app makes a capacity train unreadable (capacity.py)."""
    if nice == 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        log.warning("cannot set niceness %d (not root): capacity trains may be refused on a busy host", nice)


class EdgeMonitor(App):
    """The controller: the apps of `_REQUIRED_APP` over one shared `EdgeNetwork`."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]
        _set_niceness(self.network.settings.nice)
        log.info("edgeft controller: %s over one shared network", ", ".join(_REQUIRED_APP))
