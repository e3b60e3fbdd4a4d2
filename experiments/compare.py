"""`python -m experiments.compare` (the name the README and the issues use): the NE vs AR
runner in Mininet, experiments/runners/mininet_sweep.py; same flags as `edgeft compare`."""

import sys

from experiments.runners.mininet_sweep import main

if __name__ == "__main__":
    sys.exit(main())
