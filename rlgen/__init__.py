"""rlgen: train on some levels, test on held-out ones, and measure the gap."""

from rlgen.registry import UnknownNameError, make_env, make_env_spec

__version__ = "0.1.0"
__all__ = ["UnknownNameError", "make_env", "make_env_spec", "__version__"]
