"""Execution backends: where independent jobs (sweep trials, an ES generation's lifetimes) run.
One interface (`Backend.imap` / `map`), several engines, named in `rlgen.registry.BACKENDS`."""

from rlgen.exec.base import Backend, BackendOptions, Resources, make_backend

__all__ = ["Backend", "BackendOptions", "Resources", "make_backend"]
