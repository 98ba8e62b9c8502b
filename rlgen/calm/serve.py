"""`rlgen calm serve`: one llama.cpp judge model over OpenAI-compatible HTTP on 127.0.0.1, for
several processes (annotation workers, training runs) to share through the `openai` judge.

Loopback only: the server has no API key, so it is not offered on other interfaces.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable

from rlgen.calm.llama import model_name, resolve_model, start_server

HOST = "127.0.0.1"


def serve(model: str | None, port: int, *, parallel: int = 1, n_ctx: int = 4096,
          threads: int | None = None, ready: Callable[[str], None] = print,
          stop: threading.Event | None = None) -> None:
    """Serve until `stop` is set, SIGTERM, or Ctrl-C. `ready` gets the endpoint line once the
    model is loaded and the port is listening."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    path = resolve_model(model)
    with socket.socket() as probe:  # llama.cpp only says "failed to init" on a busy port
        try:
            probe.bind((HOST, port))
        except OSError as e:
            raise ValueError(f"cannot listen on {HOST}:{port}: {e.strerror}") from None
    stop = stop or threading.Event()
    server = start_server(path, n_ctx=n_ctx * parallel, n_parallel=parallel, threads=threads,
                          port=port, host=HOST)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        ready(f"serving {model_name(path)} at http://{HOST}:{port}/v1 "
              f"({parallel} slot{'s' if parallel > 1 else ''}); Ctrl-C stops")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        del server
