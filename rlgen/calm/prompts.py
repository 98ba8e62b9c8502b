"""CALM's prompt: nine blocks joined in a fixed order, each with named variants.

Order: role, symbol legend, task, subgoals, instruction, remark, output format, the rendered
transition, output remark. Everything before the transition is a constant prefix for a given
`PromptConfig`, which is what lets a llama.cpp server reuse its cached prefix between calls.
The defaults are CALM's final dataset configuration (KeyRoom role, "win" task, subgoals left to
the model, transition-action instruction, dict output, tty view); `PromptConfig.preset()` names
the two KeyRoom subgoals instead, which is what per-subgoal scoring and small models need.
The wording is rlgen's; the block structure and variants follow the paper's code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from rlgen.calm.render import VIEWS, render_transition
from rlgen.calm.transition import Transition

KEY_SUBGOAL = "pick up the key"
DOOR_SUBGOAL = "open the door"
#: KeyRoom's two subgoals, in the order the oracle labels and the preset prompt name them.
PRESET_SUBGOALS: tuple[str, ...] = (KEY_SUBGOAL, DOOR_SUBGOAL)

ROLE = {
    "generic": "You are an expert player of MiniHack, a collection of small levels built on the "
               "game NetHack.",
    "generic_keyroom": "You will analyse a short excerpt of gameplay from MiniHack, a collection "
                       "of small levels built on the game NetHack. The level is called KeyRoom.",
    "analyst": "You are a careful, honest analyst of MiniHack gameplay. Base every answer on what "
               "the gameplay shows; never make an answer up.",
}

_SYMBOLS = """Map symbols:
. the floor of a room
| a wall, or an open door
- a wall or the corner of a room
+ a closed door; it may be locked, and a locked door needs a key
( a useful item, for example a key
< a staircase up
> a staircase down
@ the agent"""

LEGEND = {
    "keyroom": _SYMBOLS,
    "keyroom_explained": _SYMBOLS + """
Each moment of the gameplay is given as:
Time: the step number
Last action: the action the agent took to get here
Current message: the game's message after that action
Current observation: the map around the agent
Next action: the action the agent takes next""",
    "none": "",
}

TASK = {
    "win": "The agent's task is to win the game.",
    "keyroom": "The agent's task is to pick up the key, walk to the locked door, unlock it with "
               "the key and then go down the staircase behind it.",
}

SUBGOALS = {
    "identify": "Before answering, split the task into subgoals using what you know about "
                "NetHack.",
    "identify_minihack": "Before answering, split the task into subgoals using what you know "
                         "about MiniHack and NetHack.",
    "preset": "The task has these subgoals: {subgoals}.",
}

INSTRUCTION = {
    "transition_action": "Below is one transition: the game before (Time 0) and after (Time 1) "
                         "a single action of the agent. Did that action achieve any of the "
                         "subgoals?",
    "transition": "Below are two consecutive moments of the game, Time 0 and Time 1. Is any of "
                  "the subgoals achieved at Time 1?",
}

REMARK = {
    "none": "",
    "message_action": "Look closely at the message shown after the action and at the action "
                      "itself: together they tell what the action did.",
    "message": "Look closely at the message shown after the action: it tells what the action "
               "did.",
    "action": "Look closely at the action the agent took: it tells what changed.",
}

OUTPUT_FORMAT = {
    "transition": "Answer with a python dictionary in a code block. Its keys are the subgoals "
                  "and each value is True if the action achieved that subgoal, False otherwise, "
                  "like this:\n```python\n{example}\n```",
}

TRANSITION_BLOCK = "Gameplay:\n<gameplay>\n{transition}\n</gameplay>"

OUTPUT_REMARK = ("Only the dictionary in your answer is read. You have one attempt and cannot ask "
                 "questions.")

#: The block tables by PromptConfig field, for validation and for listing the variants.
VARIANTS = {"role": ROLE, "legend": LEGEND, "task": TASK, "subgoals": SUBGOALS,
            "instruction": INSTRUCTION, "remark": REMARK, "output": OUTPUT_FORMAT}


@dataclass(frozen=True)
class PromptConfig:
    """Which variant of each block, and how the transition is rendered."""

    role: str = "generic_keyroom"
    legend: str = "keyroom"
    task: str = "win"
    subgoals: str = "identify_minihack"
    instruction: str = "transition_action"
    remark: str = "none"
    output: str = "transition"
    view: str = "tty"
    separator: str = " "
    show_actions: bool | None = None  # None: the view's default (crop shows them, tty not)
    preset_subgoals: tuple[str, ...] = field(default=PRESET_SUBGOALS)

    def __post_init__(self):
        from rlgen.registry import UnknownNameError

        for name, table in VARIANTS.items():
            if getattr(self, name) not in table:
                raise UnknownNameError(f"{name} variant", getattr(self, name), list(table))
        if self.view not in VIEWS:
            raise UnknownNameError("view", self.view, list(VIEWS))

    @classmethod
    def preset(cls, **changes) -> PromptConfig:
        """KeyRoom's subgoals named in the prompt (the verdict keys are then known)."""
        return cls(subgoals="preset", **changes)

    @property
    def named_subgoals(self) -> tuple[str, ...] | None:
        """The subgoal names the answer should use; None when the model picks them."""
        return self.preset_subgoals if self.subgoals == "preset" else None


def _example(subgoals: Sequence[str] | None) -> str:
    names = list(subgoals) if subgoals else ["<subgoal 1>", "<subgoal 2>"]
    return "{" + ", ".join(f"{json.dumps(n)}: False" for n in names) + "}"


def prefix(config: PromptConfig) -> str:
    """The blocks before the transition: the same for every transition under one config."""
    named = config.named_subgoals
    blocks = [
        ROLE[config.role],
        LEGEND[config.legend],
        TASK[config.task],
        SUBGOALS[config.subgoals].format(subgoals=", ".join(f'"{s}"' for s in named or ())),
        INSTRUCTION[config.instruction],
        REMARK[config.remark],
        OUTPUT_FORMAT[config.output].format(example=_example(named)),
    ]
    return "\n\n".join(b for b in blocks if b)


def compose(rendered: str, config: PromptConfig = PromptConfig()) -> str:
    """The full prompt for one rendered transition."""
    return "\n\n".join([prefix(config), TRANSITION_BLOCK.format(transition=rendered), OUTPUT_REMARK])


def transition_prompt(tr: Transition, config: PromptConfig = PromptConfig()) -> str:
    """Render `tr` as the config's view and wrap it in the prompt."""
    return compose(render_transition(tr, config.view, config.separator, config.show_actions), config)


BATCH_INSTRUCTION = ("Below are several transitions, numbered from 1. Each shows the game before "
                     "(Time 0) and after (Time 1) a single action of the agent. For each "
                     "transition: did that action achieve any of the subgoals?")

WINDOW_INSTRUCTION = ("Below is a stretch of gameplay: the game at Time 0, Time 1, Time 2 and so "
                      "on, with one action of the agent between consecutive times. For each "
                      "action, from the first to the last: did that action achieve any of the "
                      "subgoals?")

BATCH_OUTPUT_FORMAT = ("Answer with a JSON list that holds one list per {item}, in order. Each "
                       "inner list holds one true or false per subgoal, in this order: "
                       "{subgoals}; true if the action achieved that subgoal. For three {item}s "
                       "where only the second action achieved the first subgoal:\n{example}")

BATCH_OUTPUT_REMARK = ("Only the list in your answer is read. You have one attempt and cannot ask "
                       "questions.")


def batch_prefix(config: PromptConfig, window: bool = False) -> str:
    """The constant start of a batched prompt: the single prompt's blocks with the instruction
    and output format asking for one verdict list per transition (named subgoals only);
    `window`: for the actions of one stretch of consecutive play."""
    named = config.named_subgoals
    if not named:
        raise ValueError("batched judging needs named subgoals (subgoals=preset)")
    row = ", ".join("false" for _ in named)
    hit = ", ".join("true" if i == 0 else "false" for i in range(len(named)))
    blocks = [
        ROLE[config.role], LEGEND[config.legend], TASK[config.task],
        SUBGOALS[config.subgoals].format(subgoals=", ".join(f'"{s}"' for s in named)),
        WINDOW_INSTRUCTION if window else BATCH_INSTRUCTION, REMARK[config.remark],
        BATCH_OUTPUT_FORMAT.format(item="action" if window else "transition",
                                   subgoals=", ".join(f'"{s}"' for s in named),
                                   example=f"[[{row}], [{hit}], [{row}]]"),
    ]
    return "\n\n".join(b for b in blocks if b)


def batch_prompt(rendered: Sequence[str], config: PromptConfig) -> str:
    """One prompt asking about every rendered transition: the constant prefix first (so a
    llama.cpp slot reuses it), then the numbered transitions, then the output remark."""
    body = "\n\n".join(f"Transition {i}:\n<gameplay>\n{r}\n</gameplay>"
                        for i, r in enumerate(rendered, 1))
    return "\n\n".join([batch_prefix(config), "Gameplay:\n" + body, BATCH_OUTPUT_REMARK])


def window_prompt(rendered_window: str, config: PromptConfig) -> str:
    """One prompt asking about every action of a rendered window (render_window)."""
    return "\n\n".join([batch_prefix(config, window=True),
                         TRANSITION_BLOCK.format(transition=rendered_window), BATCH_OUTPUT_REMARK])


def batch_grammar(n: int, m: int) -> str:
    """llama.cpp GBNF for batch_schema(n, m subgoals) without optional whitespace: the
    shortest answer (a JSON schema's grammar lets the model spend tokens on newlines)."""
    row = '"[" ' + ' "," '.join(["bool"] * m) + ' "]"'
    return ('root ::= "[" ' + ' "," '.join(["row"] * n) + ' "]"\n'
            f'row ::= {row}\nbool ::= "true" | "false"\n')


def batch_schema(n: int, subgoals: Sequence[str]) -> dict:
    """JSON schema of a batched answer: n lists of one boolean per subgoal (the shortest
    constrained output: no names are generated)."""
    row = {"type": "array", "items": {"type": "boolean"}, "minItems": len(subgoals),
           "maxItems": len(subgoals)}
    return {"type": "array", "items": row, "minItems": int(n), "maxItems": int(n)}


def verdict_schema(subgoals: Sequence[str] | None) -> dict:
    """JSON schema of an answer: named boolean subgoals, or any names with boolean values."""
    if subgoals:
        return {"type": "object", "properties": {s: {"type": "boolean"} for s in subgoals},
                "required": list(subgoals), "additionalProperties": False}
    return {"type": "object", "additionalProperties": {"type": "boolean"}}


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """One user turn, as CALM sends it (no system message: not every chat template has one)."""
    return [{"role": "user", "content": prompt}]
