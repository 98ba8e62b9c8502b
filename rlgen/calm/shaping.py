"""CALM's auxiliary reward for training envs: r' = r + beta * r_int, where r_int counts the
subgoals the judge says a step achieved, each at most once per episode by default.

A `RewardShaping` training wrapper (rlgen.envs.wrappers: a vector wrapper over the batch of
training envs; shaped reward out, the env's own reward kept in `info["extrinsic_reward"]`,
which agents log as the training return); `info["intrinsic_reward"]`
holds r_int per env. Each vector step judges all envs' transitions in one batch (one call per
step for a language model, through its answer cache). It needs same-step autoreset (what rlgen's
families build): the transition that ends an episode is judged on `final_obs`.
Evaluation runs the bare envs, so evaluation returns stay extrinsic.

Two modes (`CalmOptions.mode`):
- `online`: every step's transitions are judged during training (through the answer cache for
  language models);
- `offline`: CALM's own RL setup. A dataset of transitions is annotated first (through the
  cache, resumable), then an (observation, action) table gives r_int by lookup: the number of
  subgoals the judge flagged for that pair, min-max normalised to [0, 1] over all pairs with
  unflagged ones counting 0 (so the least-flagged pair is not mapped to 0 as in the original,
  and equal counts do not divide by zero). The key is the observation *before* the action (the
  original looked up the one after), the full map's glyphs (`key=map`, as CALM's full-screen
  chars) or the 9x9 crop around the agent (`key=crop`, which transfers across layouts).
`rlgen train ... --set shaping=calm --set judge=oracle --set mode=offline` (CalmOptions'
fields are top-level keys there, see rlgen.envs.wrappers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlgen.calm.judges.base import Judge, JudgeRequest
from rlgen.calm.prompts import PromptConfig, transition_prompt
from rlgen.calm.score import match_subgoal
from rlgen.calm.transition import Transition
from rlgen.envs.wrappers import RewardShaping

INTRINSIC = "intrinsic_reward"


@dataclass(frozen=True)
class CalmOptions:
    """CALM shaping's options: `--set shaping=calm` makes each a top-level `--set` key."""

    #: judge spec: oracle, llamacpp[:GGUF], openai[:URL], replay:FILE (rlgen list judges)
    judge: str = "oracle"
    beta: float = 0.1  # r' = r + beta * r_int; the paper swept 1, 0.5, 0.1
    mode: Literal["online", "offline"] = "online"
    once_per_episode: bool = True  # online: per subgoal; offline: per table entry
    subgoals: Literal["preset", "identify", "identify_minihack"] = "preset"
    view: Literal["tty", "crop"] = "tty"
    #: answer cache of language-model judges ("" = the default under RLGEN_CACHE)
    cache: str = ""
    threads: int = 0  # llama.cpp threads (0: the judge's default)
    #: language models: transitions asked about in one request (one prefix, K verdicts)
    per_request: int = 1
    #: offline: an `rlgen calm annotate` folder to build the table from, or else ...
    annotations: str = ""
    #: ... a `rlgen calm dataset` folder to annotate first ("" = build one of `transitions`
    #: unbalanced steps on the train split under RLGEN_CACHE)
    dataset: str = ""
    transitions: int = 1000
    key: Literal["map", "crop"] = "map"  # offline table key: full-map glyphs or 9x9 crop


def obs_key(obs: Any, action: int, key: str = "map") -> str:
    """The table key of (observation, action): a hash of the map's (or crop's) glyphs."""
    glyphs = np.ascontiguousarray(np.asarray(obs["glyphs" if key == "map" else "glyphs_crop"],
                                             dtype=np.int32))
    return hashlib.sha1(glyphs.tobytes()).hexdigest() + f":{int(action)}"


def flagged(verdict: Any) -> int:
    """How many subgoals a verdict says were achieved."""
    return sum(bool(v) for v in verdict.subgoals.values())


class CalmTable:
    """CALM's offline table: (observation, action) key -> normalised flag count in [0, 1]."""

    def __init__(self, counts: dict[str, int], key: str = "map"):
        self.key, self.counts = key, dict(counts)
        top = max(self.counts.values(), default=0)
        self.values = {k: c / top for k, c in self.counts.items() if c > 0} if top else {}

    def __len__(self) -> int:
        return len(self.values)

    def __call__(self, obs: Any, action: int) -> tuple[str, float]:
        k = obs_key(obs, action, self.key)
        return k, self.values.get(k, 0.0)

    @classmethod
    def from_annotations(cls, folder: str | Path, key: str = "map") -> CalmTable:
        """The table of an `rlgen calm annotate` folder (its card names the dataset)."""
        from rlgen.calm.dataset import CalmDataset
        from rlgen.calm.parse import Verdict

        folder = Path(folder)
        if not (folder / "card.json").exists():
            raise FileNotFoundError(f"{folder} is not an annotation folder (no card.json); "
                                    "run rlgen calm annotate first")
        card = json.loads((folder / "card.json").read_text())
        ds = CalmDataset(card["dataset"])
        index = {r["id"]: i for i, r in enumerate(ds.records)}
        counts: dict[str, int] = {}
        for line in (folder / "annotations.jsonl").read_text().splitlines():
            rec = json.loads(line)
            i = index[rec["id"]]
            tr = ds.transition(i)
            k = obs_key(tr.obs, tr.action, key)
            counts[k] = counts.get(k, 0) + flagged(Verdict(**rec["verdict"]))
        return cls(counts, key)


def offline_table(opts: CalmOptions, spec: Any, config: PromptConfig,
                  judge_options: dict[str, Any]) -> CalmTable:
    """Annotate (resumably, through the answer cache) and build the table, or read a given
    annotation folder."""
    from rlgen.calm.annotate import annotate
    from rlgen.paths import cache_dir

    if opts.annotations:
        return CalmTable.from_annotations(opts.annotations, opts.key)
    if opts.dataset:
        data = Path(opts.dataset)
    else:
        from rlgen.calm.dataset import build

        if spec is None:
            raise ValueError("offline CALM shaping needs annotations=, dataset= or an env spec")
        task = str(spec.id).replace(":", "-")
        data = cache_dir() / "calm" / "datasets" / f"{task}-train-{opts.transitions}"
        if not (data / "card.json").exists():
            build(spec.id, "train", opts.transitions, data, balanced=False, progress=False)
    slug = hashlib.sha1(json.dumps([opts.judge, opts.subgoals, opts.view],
                                   sort_keys=True).encode()).hexdigest()[:10]
    out = data / "annotated" / f"{opts.judge.partition(':')[0]}-{slug}"
    annotate(data, opts.judge, out, config=config, progress=False, **judge_options)
    return CalmTable.from_annotations(out, opts.key)


def _action_names(envs: gym.vector.VectorEnv, spec: Any) -> tuple[str, ...]:
    if spec is not None:
        env = spec.make_env()
        try:
            return tuple(env.action_names)
        finally:
            env.close()
    inner = getattr(envs.unwrapped, "envs", None)  # SyncVectorEnv
    if inner:
        return tuple(inner[0].unwrapped.action_names)
    raise ValueError("CalmShaping needs action_names= or spec= for this vector env")


class CalmShaping(RewardShaping):
    """CALM's shaping: + beta for each subgoal the judge says a step achieved (training only),
    or, in offline mode, + beta times the annotated table's value of (observation, action).

    `judge` is a Judge or a spec string ("oracle", "llamacpp", "replay:FILE", ...; extra
    keyword arguments go to it). `subgoals` and `view` pick the prompt (PromptConfig). The
    remaining keywords are CalmOptions' fields."""

    Options = CalmOptions

    @staticmethod
    def check_options(options: CalmOptions) -> None:
        from rlgen.registry import JUDGES, lookup

        name, _, arg = options.judge.partition(":")
        judge = lookup("judge", name, JUDGES)
        if not (options.mode == "offline" and options.annotations):  # else no judge is built
            judge.check_spec(arg)
        if options.annotations and not Path(options.annotations).exists():
            raise FileNotFoundError(f"annotations folder {options.annotations} does not exist")
        if options.dataset and not Path(options.dataset).exists():
            raise FileNotFoundError(f"dataset folder {options.dataset} does not exist")

    def __init__(self, envs: gym.vector.VectorEnv, judge: str | Judge = "oracle",
                 beta: float = 0.1, once_per_episode: bool = True, subgoals: str = "preset",
                 view: str = "tty", action_names: Sequence[str] | None = None, spec: Any = None,
                 mode: str = "online", cache: str = "", threads: int = 0, annotations: str = "",
                 dataset: str = "", transitions: int = 1000, key: str = "map",
                 per_request: int = 1, **judge_options: Any):
        super().__init__(envs)
        autoreset = str(envs.metadata.get("autoreset_mode", "")).lower()
        if "next" in autoreset:
            raise ValueError("CalmShaping needs same-step autoreset (AutoresetMode.SAME_STEP)")
        if mode not in ("online", "offline"):
            raise ValueError(f"CALM shaping mode must be online or offline, not {mode!r}")
        self.config = PromptConfig(subgoals=subgoals, view=view)
        name = judge if isinstance(judge, str) else getattr(judge, "name", "")
        if name.partition(":")[0] in ("llamacpp", "openai") and cache:
            judge_options.setdefault("cache", cache)
        if name.partition(":")[0] == "llamacpp" and threads:
            judge_options.setdefault("threads", threads)
        if name.partition(":")[0] in ("llamacpp", "openai"):
            if per_request > 1:
                judge_options.setdefault("per_request", per_request)
            if mode == "online":
                judge_options.setdefault("prompt", self.config)
        if self.config.named_subgoals is not None and name.partition(":")[0] != "oracle":
            judge_options.setdefault("subgoals", self.config.named_subgoals)
        self.mode, self.table = mode, None
        if mode == "offline":
            if not isinstance(judge, str):
                raise ValueError("offline CALM shaping takes a judge spec string")
            opts = CalmOptions(judge=judge, subgoals=subgoals, view=view,  # type: ignore[arg-type]
                               annotations=annotations, dataset=dataset, transitions=transitions,
                               key=key)  # type: ignore[arg-type]
            self.table = offline_table(opts, spec, self.config, dict(judge_options))
            judge = None
        elif isinstance(judge, str):
            from rlgen.calm.judges import make_judge

            judge = make_judge(judge, **(judge_options if name != "oracle" else {}))
        self.judge, self.beta, self.once = judge, float(beta), bool(once_per_episode)
        self.names = tuple(action_names) if action_names else _action_names(envs, spec)

    def _slice(self, obs: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
        return {k: v[i] for k, v in obs.items()}

    def _start(self, i: int, obs: dict[str, np.ndarray]) -> None:
        self._obs[i], self._prev[i], self._t[i], self._done[i] = obs, None, 0, set()

    def reset(self, *, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        n = self.num_envs
        self._obs: list[Any] = [None] * n
        self._prev: list[int | None] = [None] * n
        self._t, self._done = [0] * n, [set() for _ in range(n)]
        for i in range(n):
            self._start(i, self._slice(obs, i))
        return obs, infos

    def _achieved(self, transitions: list[Transition]) -> list[dict[str, float]]:
        """Per transition: what it achieved (subgoal names, or the table key) -> r_int share."""
        if self.table is not None:
            hits = [self.table(tr.obs, tr.action) for tr in transitions]
            return [{k: v} if v > 0 else {} for k, v in hits]
        reqs = [JudgeRequest(transition_prompt(tr, self.config) if self.judge.reads_prompt else "",
                             tr) for tr in transitions]
        # A model's own names are folded onto KeyRoom's subgoals where they match, so "grab the
        # key" and "pick up the key" are one subgoal for the once-per-episode rule.
        return [{match_subgoal(k) or k.lower(): 1.0 for k, v in j.verdict.subgoals.items() if v}
                for j in self.judge.judge(reqs)]

    def bonus(self, obs, actions, rewards, terminations, truncations, infos) -> np.ndarray:
        ended = np.logical_or(terminations, truncations)
        final, has_final = infos.get("final_obs"), infos.get("_final_obs")
        after = [final[i] if ended[i] and final is not None and has_final[i]
                 else self._slice(obs, i) for i in range(self.num_envs)]
        acts = np.asarray(actions).reshape(-1)
        trs = [Transition(self._obs[i], int(acts[i]), after[i], self.names, self._t[i],
                          self._prev[i]) for i in range(self.num_envs)]
        intrinsic = np.zeros(self.num_envs)
        for i, got in enumerate(self._achieved(trs)):
            new = set(got) - self._done[i] if self.once else set(got)
            self._done[i] |= set(got)
            intrinsic[i] = sum(got[k] for k in new)
            if ended[i]:
                self._start(i, self._slice(obs, i))  # obs holds the next episode's first step
            else:
                self._obs[i], self._prev[i], self._t[i] = after[i], int(acts[i]), self._t[i] + 1
        infos[INTRINSIC] = intrinsic  # RewardShaping hands over its own copy of the infos
        return self.beta * intrinsic
