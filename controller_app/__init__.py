"""The SDN controller app: forwarding, topology, probes, per-path stats, northbound REST."""
