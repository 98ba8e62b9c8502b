"""The WebShop env: pages, actions, transitions and observations of the original text env.

Actions are strings `search[keywords]` and `click[label]`; `info["valid_actions"]` lists the
ones available on the current page (on the index page, one search: the instruction itself).
An invalid action changes nothing: same observation, reward 0, not done. `click[buy now]` is
the only terminal action; an episode that reaches `max_steps` without buying is truncated
with reward 0.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rlgen.envs.webshop.catalogue import Catalogue, Product
from rlgen.envs.webshop.reward import purchase_reward
from rlgen.envs.webshop.search import SearchEngine

RESULTS_PER_PAGE = 10
BACK_TO_SEARCH, PREV_PAGE, NEXT_PAGE, BUY_NOW = "back to search", "< prev", "next >", "buy now"
SUB_PAGES = ("description", "features", "reviews")
ATTRIBUTES = "attributes"
# The original's debug searches (random products, by attribute/category/query) are refused.
DEBUG_PREFIXES = ("<r>", "<a>", "<c>", "<q>")
OBSERVATION_MODES = ("text", "text_rich")
# Same pattern as the original's parse_action: greedy `name[arg]`, matched at the start only.
_ACTION = re.compile(r"(.+)\[(.+)\]")
_LABELS = {BACK_TO_SEARCH: "Back to Search", PREV_PAGE: "< Prev", NEXT_PAGE: "Next >",
           BUY_NOW: "Buy Now", "description": "Description", "features": "Features",
           "reviews": "Reviews", ATTRIBUTES: "Attributes"}


_BUTTON = re.compile(r"^\s*\[(?:clicked )?button\] (.*) \[(?:clicked )?button_\]$")


def valid_actions_from_text_rich(obs: str) -> list[str]:
    """The valid actions of a `text_rich` page (memory off), read back from its buttons.

    Datasets written without a `valid_actions` field (e.g. by the generic `rlgen collect`) are
    read through this: the same set as `info["valid_actions"]`, in page order."""
    lines = obs.split("\n")
    out = []
    for line in lines:
        m = _BUTTON.match(line)
        if m is None:
            continue
        label = m.group(1).lower()
        if label == "search":
            instruction = lines[lines.index("Instruction:") + 1]
            out.append(f"search[{instruction.lower()}]")
        else:
            out.append(f"click[{label}]")
    return list(dict.fromkeys(out))


def parse_action(action: str) -> tuple[str, str | None]:
    m = _ACTION.match(action)
    if m is None:
        return action, None
    return m.group(1), m.group(2)


@dataclass
class Element:
    """One visible piece of a page. kind: text, button, option, asin."""

    kind: str
    text: str
    clicked: bool = False


@dataclass
class State:
    page: str = "index"  # index, results, item, sub, done
    keywords: str | None = None
    results: list[str] = field(default_factory=list)
    page_num: int = 1
    asin: str | None = None
    sub_page: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    visited: set[str] = field(default_factory=set)
    reward: float = 0.0


class WebShopEnv(gym.Env):
    """One shopper session per episode; the level is a goal index into the catalogue's goals."""

    metadata = {"render_modes": []}

    def __init__(self, catalogue: Catalogue, engine: SearchEngine, observation_mode: str = "text_rich",
                 max_steps: int = 100, memory: int = 0, show_attributes: bool = False,
                 search_anywhere: bool = False):
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        self.catalogue, self.engine = catalogue, engine
        self.observation_mode, self.max_steps, self.memory = observation_mode, int(max_steps), int(memory)
        self.show_attributes, self.search_anywhere = bool(show_attributes), bool(search_anywhere)
        # Product text is arbitrary Unicode; the Text spaces describe the length only loosely.
        charset = string.printable
        self.observation_space = gym.spaces.Text(max_length=1 << 20, charset=charset)
        self.action_space = gym.spaces.Text(max_length=4096, charset=charset)
        self.level: int | None = None
        self.goal: dict[str, Any] = {}
        self.state = State()
        self.steps = 0
        self._history: list[str] = []

    # ---- gym API -------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        level = options.get("level")
        goals = self.catalogue.goals
        if level is None:
            level = int(self.np_random.integers(len(goals)))
        level = int(level)
        if not 0 <= level < len(goals):
            raise ValueError(f"WebShop goal index {level} out of range [0, {len(goals)})")
        self.level, self.goal = level, goals[level]
        self.state = State()
        self.steps = 0
        self._history = []
        obs = self._page_text()
        return self._with_memory(obs), self._info()

    def step(self, action: str):
        if self.level is None:
            raise RuntimeError("call reset() before step()")
        if self.state.page == "done":
            raise RuntimeError("the episode has ended (bought); call reset()")
        before = self._page_text()
        reward, terminated = self._apply(str(action))
        self.steps += 1
        truncated = not terminated and self.steps >= self.max_steps
        obs = self._page_text()
        if self.memory:
            self._history += [before, str(action)]
        info = self._info()
        if terminated or truncated:
            info["success"] = bool(terminated and reward == 1.0)
        return self._with_memory(obs), float(reward), terminated, truncated, info

    # ---- transitions ---------------------------------------------------------------------

    def valid_actions(self) -> list[str]:
        s = self.state
        if s.page == "index":
            return [f"search[{self.goal['instruction_text'].lower()}]"]
        if s.page == "done":
            return []
        labels = [BACK_TO_SEARCH]
        if s.page == "results":
            if s.page_num > 1:
                labels.append(PREV_PAGE)
            labels.append(NEXT_PAGE)
            labels += [a.lower() for a in self._page_results()]
        elif s.page == "item":
            labels += [PREV_PAGE, *SUB_PAGES]
            if self.show_attributes:
                labels.append(ATTRIBUTES)
            labels.append(BUY_NOW)
            for values in self._product().options.values():
                labels += values
        else:
            labels.append(PREV_PAGE)
        return [f"click[{label}]" for label in dict.fromkeys(labels)]

    def _apply(self, action: str) -> tuple[float, bool]:
        """Perform `action` if valid; (reward, terminated). Invalid actions change nothing."""
        name, arg = parse_action(action)
        if arg is None:
            return 0.0, False
        arg = arg.lower()
        s = self.state
        if name == "search":
            if (s.page != "index" and not self.search_anywhere) or arg.strip() == "" \
                    or arg.lstrip().startswith(DEBUG_PREFIXES):
                return 0.0, False
            s.keywords, s.results = arg, self.engine.search(arg)
            s.page, s.page_num, s.asin, s.sub_page, s.options = "results", 1, None, None, {}
            return 0.0, False
        if name != "click" or f"click[{arg}]" not in self.valid_actions():
            return 0.0, False
        if arg == BUY_NOW:
            product = self._product()
            reward, _ = purchase_reward(vars(product), self.goal, product.price, s.options,
                                        self.catalogue.title_nouns(product),
                                        self.catalogue.title_nouns(self.catalogue.by_asin[self.goal["asin"]]))
            s.page, s.reward = "done", reward
            return reward, True
        if arg == BACK_TO_SEARCH:
            self.state = State()
        elif arg == NEXT_PAGE:
            s.page_num += 1
        elif arg == PREV_PAGE:
            if s.page == "results":
                s.page_num -= 1
            elif s.page == "item":
                s.page, s.options = "results", {}
            else:
                s.page, s.sub_page = "item", None
        elif s.page == "results":
            s.asin = arg.upper()
            s.visited.add(s.asin)
            s.page, s.options = "item", {}
        elif arg in SUB_PAGES or arg == ATTRIBUTES:
            s.page, s.sub_page = "sub", arg
        else:
            # An option value; when several groups offer it, the last one wins (as the original's
            # text-to-clickable dict does).
            group = [n for n, values in self._product().options.items() if arg in values][-1]
            s.options[group] = arg
        return 0.0, False

    # ---- pages ---------------------------------------------------------------------------

    def _product(self) -> Product:
        return self.catalogue.by_asin[self.state.asin]  # type: ignore[index]

    def _page_results(self) -> list[str]:
        start = (self.state.page_num - 1) * RESULTS_PER_PAGE
        return self.state.results[start:start + RESULTS_PER_PAGE]

    def page_elements(self) -> list[Element]:
        s = self.state
        instruction = self.goal["instruction_text"]
        if s.page == "index":
            return [Element("text", "WebShop"), Element("text", "Instruction:"),
                    Element("text", instruction), Element("button", "Search")]
        head = [Element("text", "Instruction:"), Element("text", instruction)]
        if s.page == "done":
            product = self._product()
            chosen = ", ".join(f"{k}: {v}" for k, v in s.options.items()) or "none"
            return head + [Element("text", "Thank you for shopping with us!"),
                           Element("text", "Purchased"), Element("text", product.asin),
                           Element("text", product.name), Element("text", f"Options: {chosen}"),
                           Element("text", "Your score (min 0.0, max 1.0)"),
                           Element("text", str(s.reward))]
        out = head + [Element("button", _LABELS[BACK_TO_SEARCH])]
        if s.page == "results":
            out.append(Element("text", f"Page {s.page_num} (Total results: {len(s.results)})"))
            if s.page_num > 1:
                out.append(Element("button", _LABELS[PREV_PAGE]))
            out.append(Element("button", _LABELS[NEXT_PAGE]))
            for asin in self._page_results():
                p = self.catalogue.by_asin[asin]
                out += [Element("asin", asin, asin in s.visited), Element("text", p.name),
                        Element("text", p.price_tag)]
            return out
        out.append(Element("button", _LABELS[PREV_PAGE]))
        product = self._product()
        if s.page == "item":
            for name, values in product.options.items():
                out.append(Element("text", name))
                out += [Element("option", v, s.options.get(name) == v) for v in values]
            out += [Element("text", product.name), Element("text", f"Price: {product.price_tag}"),
                    Element("text", "Rating: N.A.")]
            buttons = [*SUB_PAGES, ATTRIBUTES] if self.show_attributes else list(SUB_PAGES)
            out += [Element("button", _LABELS[b]) for b in (*buttons, BUY_NOW)]
            return out
        if s.sub_page == "description":
            out.append(Element("text", product.description))
        elif s.sub_page == "features":
            out += [Element("text", b) for b in product.bullet_points]
        elif s.sub_page == ATTRIBUTES:
            out += [Element("text", a) for a in product.attributes]
        return out  # reviews: the 1k catalogue carries none

    def _page_text(self) -> str:
        elements = [e for e in self.page_elements() if e.text.strip()]
        if self.observation_mode == "text":
            return " [SEP] ".join(e.text.strip() for e in elements)
        lines: list[str] = []
        clicked: list[str] = []
        for e in elements:
            text = e.text.strip()
            if e.kind == "button":
                lines.append(f"[button] {text} [button_]")
            elif e.kind == "option":
                if e.clicked:
                    lines.append(f"  [clicked button] {text} [clicked button_]")
                    clicked.insert(0, f"You have clicked {text}.")
                else:
                    lines.append(f"  [button] {text} [button_]")
            elif e.kind == "asin":
                tag = "clicked button" if e.clicked else "button"
                lines.append(f"\n[{tag}] {text} [{tag}_]")
            else:
                lines.append(text)
        return "\n".join(clicked + lines)

    def _with_memory(self, obs: str) -> str:
        if not self.memory:
            return obs
        past = self._history[-2 * self.memory:]
        return " [SEP] ".join([*past, obs])

    def _info(self) -> dict[str, Any]:
        s = self.state
        return {"level": self.level, "goal_index": self.level,
                "valid_actions": self.valid_actions(), "page": s.page,
                "keywords": s.keywords, "results_page": s.page_num, "asin": s.asin,
                # Pairs rather than a dict: vector envs would split a dict into per-key arrays.
                "chosen_options": tuple(s.options.items()), "steps": self.steps}
