"""edgeft's simulator: the federated epoch on a SimGrid model of the edge network, for 100-10 000 nodes.

The emulation (Mininet) is faithful but small and slow; the simulator runs the same tree, the same
transfers and the same compute windows in simulated time. It is believed only as far as it
reproduces the emulation (issue 28: replay recorded Mininet runs, expect the same selections and
times within a stated error).

    topology.py   the Mininet tree (topologies/edge_cloud.py) as plain data, generalised to N = 10 000
                  by a documented fan-out (pure)
    phases.py     one node's epoch as transfers and waits, with orchestrator/fidelity.py's protocol
                  model: round trips, headers, loss as a TCP rate cap, slow start (pure)
    platform.py   the tree as a SimGrid platform (nested star zones, split-duplex links) and the
                  network model settings, with why
    transfers.py  the epochs as SimGrid actors: downloads to every live node, compute windows,
                  uploads from the active ones, the barrier, the server's own work
    run_epoch.py  one simulation per child process (JSON in, JSON out): SimGrid keeps one Engine
                  per process and an actor's failure can abort it
    measurement.py  what the strategy sees: truth, controller (a fitted noise model), replay of a
                  recorded run's figures (pure)
    strategy_adapter.py  the one door to the orchestrator's selection: the same policies choose
    driver.py     a whole run (set-up, then epochs planned one by one from the policy's choice),
                  one child process per run
    recorded.py   a recorded run folder as the spec of its replay: settings, drawn network, byte
                  counts, never a recorded time (pure)
    validation.py a replay against its recording: completion error, per-epoch R², selections (pure)

Cost (experiments/bench_simulate.py, CPU time on this project's 2-core machine; SimGrid's Python
actors are threads, so a busy machine stretches the wall time 2-10x): 1 000 nodes x 10 epochs 8-10 s
with the real artifacts, 19 s with the paper's 500 MB; one mid-run epoch 10 s at 3 000 nodes and
245 s at 10 000 (real artifacts). It grows as N^2 and more: every flow event re-solves the sharing of
all flows on the server's link, and each epoch starts with every node downloading at once.

SimGrid 3.32 comes from Debian (`apt-get install python3-simgrid`); scripts/install.sh links its one
module into the venv. Only platform.py, transfers.py and the child processes need it.
`edgeft simulate` (experiments/runners/simulate.py) and experiments/validate_simulation.py drive it;
docs/simulator.md says what it models, how it was calibrated and how far it is from Mininet.
"""
