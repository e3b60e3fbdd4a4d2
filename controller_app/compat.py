"""One import point for the controller framework: Ryu where installed, else
os-ken (its maintained fork; Ryu 4.34 does not start on Python >= 3.10)."""

try:  # pragma: no cover - depends on what is installed
    from ryu.base import app_manager
    from ryu.controller import ofp_event
    from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
    from ryu.lib import hub
    from ryu.lib.packet import arp, ethernet, ether_types, icmp, ipv4, lldp, packet, vlan
    from ryu.ofproto import ofproto_v1_3
    from ryu.topology import event as topo_event
    from ryu.topology.api import get_all_link, get_all_switch

    App = app_manager.RyuApp
    FRAMEWORK = "ryu"
except ImportError:
    from os_ken.base import app_manager
    from os_ken.controller import ofp_event
    from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
    from os_ken.lib import hub
    from os_ken.lib.packet import arp, ethernet, ether_types, icmp, ipv4, lldp, packet, vlan
    from os_ken.ofproto import ofproto_v1_3
    from os_ken.topology import event as topo_event
    from os_ken.topology.api import get_all_link, get_all_switch

    App = app_manager.OSKenApp
    FRAMEWORK = "os_ken"

__all__ = [
    "App",
    "FRAMEWORK",
    "CONFIG_DISPATCHER",
    "DEAD_DISPATCHER",
    "MAIN_DISPATCHER",
    "app_manager",
    "arp",
    "ethernet",
    "ether_types",
    "get_all_link",
    "get_all_switch",
    "hub",
    "icmp",
    "ipv4",
    "lldp",
    "ofp_event",
    "ofproto_v1_3",
    "packet",
    "set_ev_cls",
    "topo_event",
    "vlan",
]
