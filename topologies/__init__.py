"""Emulated edge-to-cloud networks: link profiles (pure), Mininet topologies and shaping."""
