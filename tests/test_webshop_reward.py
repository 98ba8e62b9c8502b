"""Reward, goals and prices against cases computed with the original WebShop code."""

from __future__ import annotations

import pytest
from webshop_helpers import reference

from rlgen.envs.webshop.catalogue import load_catalogue
from rlgen.envs.webshop.reward import (
    COLOR_SET,
    attribute_matches,
    fuzzy_score,
    normalize_color,
    option_matches,
    purchase_reward,
)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue("1k")


def _value(spec: dict):
    return tuple(spec["value"]) if spec["type"] == "tuple" else spec["value"]


def test_every_reference_reward_case_is_reproduced(catalogue):
    cases = reference()["cases"]
    assert len(cases) >= 100
    for case in cases:
        goal = catalogue.goals[case["goal_index"]]
        product = catalogue.by_asin[case["purchased_asin"]]
        reward, parts = purchase_reward(
            vars(product), goal, case["purchased_price"], case["chosen_options"],
            catalogue.title_nouns(product), catalogue.title_nouns(catalogue.by_asin[goal["asin"]]))
        assert reward == case["expected_reward"] or abs(reward - case["expected_reward"]) <= 1e-12, case["case_id"]
        ref = case["breakdown"]
        assert parts["r_type"] == ref["r_type"], case["case_id"]
        assert parts["title_score"] == ref["title_score"], case["case_id"]
        assert parts["num_attr_matches"] == ref["num_attr_matches"], case["case_id"]
        assert parts["num_option_matches"] == ref["num_option_matches"], case["case_id"]
        assert parts["query_match"] == ref["query_match"] and parts["category_match"] == ref["category_match"]
        assert parts["r_price"] == ref["r_price"]


def test_reference_goals_and_prices_match(catalogue):
    ref = reference()
    for case in ref["cases"]:
        goal = catalogue.goals[case["goal_index"]]
        for key, value in case["goal"].items():
            if key == "weight":
                assert abs(goal[key] - value) <= 1e-12
            else:
                assert goal[key] == value, (case["case_id"], key)
        # A price drawn from a range reproduces the original's random.uniform draw exactly.
        assert catalogue.by_asin[case["purchased_asin"]].price == case["purchased_price"]


def test_first_goals_in_order_with_price_ceilings(catalogue):
    ref = reference()
    assert len(catalogue.goals) == ref["num_goals"] == 6910
    assert len(ref["first_goals"]) == 40
    for expected in ref["first_goals"]:
        goal = catalogue.goals[expected["goal_index"]]
        for key in ("asin", "instruction_text", "attributes", "goal_options", "price_upper"):
            assert goal[key] == expected[key], (expected["goal_index"], key)


def test_fuzzy_colour_attribute_and_option_cases(catalogue):
    ref = reference()
    assert list(COLOR_SET) == ref["color_set"]
    for c in ref["token_set_ratio_cases"]:
        assert fuzzy_score(c["s1"], c["s2"]) == c["score"], c
        assert (fuzzy_score(c["s1"], c["s2"]) > 85) == c["matched_gt_85"]
    for c in ref["normalize_color_cases"]:
        assert normalize_color(_value(c["input"])) == _value(c["output"]), c
    for c in ref["option_match_cases"]:
        assert option_matches(c["purchased_values"], c["goal_options"]) == c["num_option_matches"], c
    for c in ref["attribute_match_cases"]:
        product = vars(catalogue.by_asin[c["purchased_asin"]])
        assert attribute_matches(product, [c["goal_attribute"]]) == int(c["matched"]), c


def test_buying_the_exact_target_scores_one_for_6452_goals(catalogue):
    perfect = 0
    for goal in catalogue.goals:
        product = catalogue.by_asin[goal["asin"]]
        nouns = catalogue.title_nouns(product)
        reward, _ = purchase_reward(vars(product), goal, product.price, goal["goal_options"], nouns, nouns)
        perfect += reward == 1.0
    assert perfect == 6452
