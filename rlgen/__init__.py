"""rlgen: train on some levels, test on held-out ones, and measure the gap."""

import os

# Must precede the first torch import: busy-waiting OpenMP threads run 7-10x slower whenever
# another process shares the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from rlgen.errors import UnknownNameError
from rlgen.registry import make_env, make_env_spec

__version__ = "0.1.0"
__all__ = ["UnknownNameError", "make_env", "make_env_spec", "__version__"]
