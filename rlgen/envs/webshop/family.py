"""The `webshop` env family: options, instruction and product splits, env and scorer factories."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.data.fetch import FileSet
from rlgen.envs.base import EnvFamily, EnvSpec
from rlgen.envs.splits import Split, Splits

#: Goals in the real 1,000-product catalogue; smaller catalogues (a folder given as data_dir)
#: scale the split sizes down.
REFERENCE_NUM_GOALS = 6910
SPLIT_KINDS = ("instruction", "product")


def data_key(options: dict[str, Any]) -> str:
    """The catalogue source: `1k` (packaged), `full` (fetched into the cache) or a folder."""
    return str(options["data_dir"])


def catalogue_for(options: dict[str, Any]):
    from rlgen.envs.webshop.catalogue import load_catalogue

    return load_catalogue(data_key(options))


def split_sizes(num_goals: int, test_goals: int, val_goals: int) -> tuple[int, int]:
    """(test, val) goal counts; scaled down proportionally when the catalogue is too small."""
    if test_goals + val_goals < num_goals:
        return test_goals, val_goals
    scale = num_goals / REFERENCE_NUM_GOALS
    test, val = max(1, round(test_goals * scale)), max(1, round(val_goals * scale))
    if test + val >= num_goals:
        raise ValueError(f"a catalogue with {num_goals} goals is too small for train/val/test splits")
    return test, val


def instruction_splits(num_goals: int, test: int, val: int) -> Splits:
    return Splits({
        "train": Split("train", tuple(range(test + val, num_goals)), f"goals {test + val}..{num_goals - 1}"),
        "val": Split("val", tuple(range(test, test + val)), f"goals {test}..{test + val - 1}"),
        "test": Split("test", tuple(range(test)), f"goals 0..{test - 1}"),
    })


def product_splits(goals: list[dict[str, Any]], test: int, val: int, seed: int) -> Splits:
    """Whole target products go to test (until it holds >= `test` goals), then val, then train."""
    by_asin: dict[str, list[int]] = {}
    for i, g in enumerate(goals):
        by_asin.setdefault(g["asin"], []).append(i)
    asins = sorted(by_asin)
    order = np.random.default_rng(seed).permutation(len(asins))
    parts: dict[str, list[int]] = {"test": [], "val": [], "train": []}
    for j in order:
        idx = by_asin[asins[j]]
        name = "test" if len(parts["test"]) < test else "val" if len(parts["val"]) < val else "train"
        parts[name] += idx
    desc = {k: f"{len({goals[i]['asin'] for i in v})} target products held together "
                f"(default_rng({seed}) over sorted ASINs)" for k, v in parts.items()}
    return Splits({k: Split(k, tuple(sorted(parts[k])), desc[k]) for k in ("train", "val", "test")})


class WebShopVecEnv(gym.vector.VectorEnv):
    """Single WebShop envs stepped in turn, each resetting onto a random listed goal (same-step
    autoreset). As in Procgen's vector env, `infos["level"]` of a finished episode names the goal
    it finished (with `success`); every other key, and `goal_index`, describe the new episode
    whose first page the observation shows."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, make_env, levels, num_envs: int, seed: int):
        from rlgen.envs.base import LevelSampler

        self.envs = [LevelSampler(make_env(), levels, seed + i) for i in range(num_envs)]
        self.num_envs = num_envs
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = gym.spaces.Tuple([self.single_observation_space] * num_envs)
        self.action_space = gym.spaces.Tuple([self.single_action_space] * num_envs)

    @staticmethod
    def _batch(infos: list[dict]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key in dict.fromkeys(k for info in infos for k in info):
            values = [info.get(key) for info in infos]
            if key in ("level", "goal_index", "steps"):
                out[key] = np.array(values, dtype=np.int64)
            elif key == "success":
                out[key] = np.array([bool(v) for v in values])
                out["_success"] = np.array([v is not None for v in values])
            else:
                arr = np.empty(len(values), dtype=object)
                for i, v in enumerate(values):
                    arr[i] = v
                out[key] = arr
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        pairs = [env.reset(seed=None if seed is None else seed + i) for i, env in enumerate(self.envs)]
        return tuple(o for o, _ in pairs), self._batch([i for _, i in pairs])

    def step(self, actions):
        obs, rewards, terms, truncs, infos = [], [], [], [], []
        for env, action in zip(self.envs, actions, strict=True):
            o, r, term, trunc, info = env.step(action)
            if term or trunc:
                finished = {"level": info["level"], "success": info.get("success", False)}
                o, info = env.reset()
                info = {**info, **finished}
            obs.append(o)
            rewards.append(r)
            terms.append(term)
            truncs.append(trunc)
            infos.append(info)
        return (tuple(obs), np.array(rewards, dtype=np.float64), np.array(terms), np.array(truncs),
                self._batch(infos))


class WebShopFamily(EnvFamily):
    name = "webshop"
    capabilities = frozenset({"scorer"})  # text actions chosen among the valid ones

    @property
    def default_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.spec_file["defaults"])

    def check_options(self, task: str, options: dict[str, Any]) -> None:
        from rlgen.envs.webshop.env import OBSERVATION_MODES

        if task:
            raise ValueError(f"webshop has no tasks (got {task!r}); the spec is just `webshop`")
        if options["observation_mode"] not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {', '.join(OBSERVATION_MODES)}, "
                             f"got {options['observation_mode']!r}")
        if options["split"] not in SPLIT_KINDS:
            raise ValueError(f"split must be one of {', '.join(SPLIT_KINDS)}, got {options['split']!r}")
        if int(options["max_steps"]) < 1:
            raise ValueError("max_steps must be at least 1")
        if int(options["memory"]) < 0:
            raise ValueError("memory must be >= 0")
        from rlgen.envs.webshop.scorer import ENCODERS, INITS

        if options["scorer_init"] not in INITS:
            raise ValueError(f"scorer_init must be one of {', '.join(INITS)}, got {options['scorer_init']!r}")
        if options["scorer_encoder"] not in (*ENCODERS, "auto"):
            raise ValueError(f"scorer_encoder must be one of {', '.join(ENCODERS)}, auto; "
                             f"got {options['scorer_encoder']!r}")
        if int(options["test_goals"]) < 1 or int(options["val_goals"]) < 1:
            raise ValueError("test_goals and val_goals must be at least 1")
        from rlgen.envs.webshop.catalogue import resolve_data_dir

        resolve_data_dir(data_key(options))  # a bad data_dir fails here, not at the first reset

    def build_splits(self, task: str, options: dict[str, Any]) -> Splits:
        goals = catalogue_for(options).goals
        test, val = split_sizes(len(goals), int(options["test_goals"]), int(options["val_goals"]))
        if options["split"] == "product":
            return product_splits(goals, test, val, int(options["product_split_seed"]))
        return instruction_splits(len(goals), test, val)

    def make_env(self, task: str, options: dict[str, Any], **kwargs: Any) -> gym.Env:
        from rlgen.envs.webshop.env import WebShopEnv
        from rlgen.envs.webshop.search import search_engine

        key = data_key(options)
        return WebShopEnv(catalogue_for(options), search_engine(key),
                          observation_mode=options["observation_mode"],
                          max_steps=int(options["max_steps"]), memory=int(options["memory"]),
                          show_attributes=bool(options["show_attributes"]),
                          search_anywhere=bool(options["search_anywhere"]), **kwargs)

    def make_vec_env(self, spec: EnvSpec, levels, num_envs: int, seed: int) -> gym.vector.VectorEnv:
        return WebShopVecEnv(spec.make_env, levels, num_envs, seed)

    def return_bounds(self, task: str, options: dict[str, Any]) -> tuple[float, float]:
        # Rewards lie in [0, 1]; the WebShop score is 100 x the normalized mean.
        return 0.0, 1.0

    def make_policy(self, spec: EnvSpec, name: str, **kwargs: Any):
        """Scripted policies by name (`expert`, `noisy`, `uniform`); see rlgen.envs.webshop.expert."""
        from rlgen.envs.webshop.expert import make_policy

        return make_policy(spec, name, **kwargs)

    def named_policies(self, spec: EnvSpec) -> dict[str, Any]:
        """For `rlgen collect --policy`: `expert`, `noisy` or `noisy:<mistake_prob>`, `uniform`."""
        from rlgen.envs.webshop.expert import ExpertPolicy, NoisyExpertPolicy, RandomValidPolicy

        def noisy(mistake_prob=None, seed: int = 0):
            return NoisyExpertPolicy(spec, float(mistake_prob or 0.1), seed=seed)

        return {"expert": lambda arg=None, seed=0: ExpertPolicy(spec), "noisy": noisy,
                "uniform": lambda arg=None, seed=0: RandomValidPolicy(spec, seed=seed)}

    def data_files(self) -> dict[str, FileSet]:
        """`rlgen data fetch webshop --size NAME`: `1k` (packaged) and `full` (downloaded)."""
        from rlgen.envs.webshop.datafiles import FILESETS

        return FILESETS

    def make_scorer(self, spec: EnvSpec, outputs_per_action: int = 1, **kwargs: Any):
        """The choice model; `scorer_init` / `scorer_encoder` env options pick its variant."""
        import torch

        from rlgen.envs.webshop.scorer import make_choice_scorer

        encoder = spec.options.get("scorer_encoder", "auto")
        if encoder == "auto":
            encoder = "transformer" if torch.cuda.is_available() else "embeddings"
        config = {"init": spec.options.get("scorer_init", "pretrained"), "encoder": encoder, **kwargs}
        return make_choice_scorer(spec, outputs_per_action, **config)
