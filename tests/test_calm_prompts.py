"""CALM prompts, renderings, the answer parser (golden answers) and the oracle labels."""

import json
from pathlib import Path

import pytest
from calm_helpers import by_action, keyroom_transitions

from rlgen.calm.labels import oracle_labels
from rlgen.calm.parse import OK, UNPARSEABLE, parse_answer
from rlgen.calm.prompts import (
    LEGEND,
    OUTPUT_REMARK,
    PRESET_SUBGOALS,
    ROLE,
    PromptConfig,
    compose,
    prefix,
    transition_prompt,
    verdict_schema,
)
from rlgen.calm.render import render_transition
from rlgen.registry import UnknownNameError

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "calm_answers.json").read_text())


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_parser_golden_answers(case):
    v = parse_answer(case["answer"])
    assert v.status == case["status"], v.reason
    assert v.subgoals == case["subgoals"]
    assert v.any == any(case["subgoals"].values())
    if v.status == UNPARSEABLE:
        assert v.reason  # says why


def test_ints_are_never_truthy_verdicts():
    # CALM's original scoring read {"pick up the key": 1} as detected; here it is unparseable.
    assert parse_answer('{"pick up the key": 1}').status == UNPARSEABLE
    assert parse_answer('{"pick up the key": True}').status == OK


def test_blocks_appear_in_order_and_the_prefix_is_constant():
    cfg = PromptConfig()
    a, b = (transition_prompt(tr, cfg) for tr in keyroom_transitions()[:2])
    assert a != b
    pre = prefix(cfg)
    assert a.startswith(pre) and b.startswith(pre)
    assert a.endswith(OUTPUT_REMARK)
    order = [a.index(ROLE["generic_keyroom"]), a.index(LEGEND["keyroom"]), a.index("<gameplay>"),
             a.index(OUTPUT_REMARK)]
    assert order == sorted(order)


def test_preset_subgoals_are_named_and_drive_the_schema():
    cfg = PromptConfig.preset()
    text = prefix(cfg)
    for s in PRESET_SUBGOALS:
        assert f'"{s}"' in text
    schema = verdict_schema(cfg.named_subgoals)
    assert schema["required"] == list(PRESET_SUBGOALS)
    assert PromptConfig().named_subgoals is None
    assert verdict_schema(None)["additionalProperties"] == {"type": "boolean"}


def test_unknown_block_variant_suggests_the_name():
    with pytest.raises(UnknownNameError, match="generic_keyroom"):
        PromptConfig(role="generic_keyrom")


def test_tty_rendering_is_the_screen_without_action_names():
    tr = by_action("pickup")
    text = render_transition(tr, "tty")
    assert text.startswith("Time: 0\n") and "\nTime: 1\n" in text
    first, second = text.split("\n\nTime: 1\n")
    assert len(first.splitlines()) == 1 + 24 and len(second.splitlines()) == 24
    assert "a key named" in second.splitlines()[0]  # the message row after the pickup
    assert "St:" in second  # status lines kept
    assert "Next action" not in text and "pickup" not in text
    assert "| . < . . . |" in text or ". <" in text  # map cells joined by the separator


def test_crop_rendering_has_message_grid_and_action_names():
    tr = by_action("apply")
    text = render_transition(tr, "crop")
    assert "Next action: apply" in text.split("Time: 1")[0]
    assert "Last action: apply" in text.split("Time: 1")[1]
    assert "Current message: Never mind." in text
    grid = text.split("Current observation:\n")[1].split("\n\n")[0].splitlines()
    assert len(grid) == 9 and all(len(r) == 17 for r in grid)
    assert grid[4][8] == "@"  # the agent in the middle of the crop, cells space-separated
    unseparated = render_transition(tr, "crop", separator="")
    assert unseparated.split("Current observation:\n")[1].splitlines()[4][4] == "@"


def test_compose_wraps_any_rendering():
    text = compose("Time: 0\nanything")
    assert "<gameplay>\nTime: 0\nanything\n</gameplay>" in text


def test_oracle_labels_on_a_real_episode():
    trs = keyroom_transitions()
    labels = [oracle_labels(tr) for tr in trs]
    names = [tr.action_names[tr.action] for tr in trs]
    keys = [n for n, lab in zip(names, labels, strict=True) if lab["pick up the key"]]
    doors = [n for n, lab in zip(names, labels, strict=True) if lab["open the door"]]
    assert keys == ["pickup"] and doors == ["apply"]  # exactly one of each in a solved episode
    assert sum(any(lab.values()) for lab in labels) == 2
