"""The purchase reward, reproducing the original's `get_reward` (web_agent_site/engine/goal.py).

R = r_type * (N_att + N_opt + r_price) / (|attributes| + |goal_options| + 1), divided first and
multiplied second, as the original does (the order changes the last bit of some rewards).
Quirks kept on purpose: a goal option is the (name, value) tuple, so colour normalisation tests
tuple membership (equality) for goals but substring containment for chosen values, and the fuzzy
match compares against `str()` of the tuple.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

# Colour words of the original's web_agent_site/engine/normalize.py, in its order (the first
# match wins, so the order matters: 'standard' normalises to 'tan').
COLOR_SET = (
    'alabaster', 'apricot', 'aqua', 'ash', 'asphalt', 'azure', 'banana', 'beige', 'black',
    'blue', 'blush', 'bordeaux', 'bronze', 'brown', 'burgundy', 'camel', 'camo', 'caramel',
    'champagne', 'charcoal', 'cheetah', 'chestnut', 'chocolate', 'christmas', 'coffee',
    'cognac', 'copper', 'coral', 'cranberry', 'cream', 'crystal', 'dark', 'denim', 'eggplant',
    'elephant', 'espresso', 'fuchsia', 'gold', 'granite', 'grape', 'graphite', 'grass', 'gray',
    'green', 'grey', 'heather', 'indigo', 'ivory', 'ivy', 'khaki', 'lavender', 'lemon',
    'leopard', 'light', 'lilac', 'lime', 'magenta', 'maroon', 'mauve', 'merlot', 'midnight',
    'mint', 'mocha', 'multicolor', 'mushroom', 'mustard', 'natural', 'navy', 'nude', 'olive',
    'orange', 'peach', 'pewter', 'pink', 'plum', 'purple', 'rainbow', 'red', 'rose', 'royal',
    'rust', 'sand', 'sapphire', 'seashell', 'silver', 'skull', 'slate', 'steel', 'stone',
    'stonewash', 'sunflower', 'tan', 'taupe', 'teal', 'tiger', 'turquoise', 'violet', 'walnut',
    'wheat', 'white', 'wine', 'yellow',
)

MATCH_THRESHOLD = 85
# thefuzz's force_ascii deletes U+0080..U+00FF only (not all non-ASCII).
_LATIN1 = {i: None for i in range(128, 256)}


def fuzzy_score(a: Any, b: Any) -> int:
    """thefuzz.fuzz.token_set_ratio(a, b) on top of rapidfuzz: same preprocessing and rounding."""
    s1 = default_process(str(a).translate(_LATIN1))
    s2 = default_process(str(b).translate(_LATIN1))
    return int(round(fuzz.token_set_ratio(s1, s2)))


def normalize_color(value: Any) -> Any:
    """First colour `in` the value: substring for a string, element equality for a tuple."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def type_reward(purchased: dict[str, Any], goal: dict[str, Any], purchased_nouns: list[str],
                goal_nouns: list[str]) -> dict[str, Any]:
    query_match = purchased["query"] == goal["query"]
    p_cats = {x.strip() for x in purchased["product_category"].split("›")}
    g_cats = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(p_cats & g_cats) >= 2
    if not goal_nouns:
        title_score = 0.2
    else:
        title_score = len(set(purchased_nouns) & set(goal_nouns)) / len(goal_nouns)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": title_score}


def attribute_matches(purchased: dict[str, Any], goal_attributes: Iterable[str]) -> int:
    title = purchased["name"].lower()
    bullets = " ".join(purchased["bullet_points"]).lower()
    description = purchased["description"].lower()
    matches = 0
    for g_attr in goal_attributes:
        if any(fuzzy_score(p_attr, g_attr) > MATCH_THRESHOLD for p_attr in purchased["attributes"]):
            matches += 1
        elif g_attr in title or g_attr in bullets or g_attr in description:
            matches += 1
    return matches


def option_matches(chosen_values: Iterable[str], goal_options: dict[str, str]) -> int:
    chosen = [normalize_color(v) for v in chosen_values]
    wanted = [normalize_color(pair) for pair in goal_options.items()]
    return sum(1 for g in wanted if any(fuzzy_score(p, g) > MATCH_THRESHOLD for p in chosen))


def purchase_reward(purchased: dict[str, Any], goal: dict[str, Any], price: float,
                    chosen_options: dict[str, str], purchased_nouns: list[str],
                    goal_nouns: list[str]) -> tuple[float, dict[str, Any]]:
    """Reward for buying `purchased` (a dict with name, description, bullet_points, attributes,
    query, product_category) at `price` with `chosen_options`; returns (reward, breakdown)."""
    kind = type_reward(purchased, goal, purchased_nouns, goal_nouns)
    r_price = price <= goal["price_upper"]
    n_att = attribute_matches(purchased, goal["attributes"])
    n_opt = option_matches(list(chosen_options.values()), goal["goal_options"])
    total = (n_att + n_opt + r_price) / (len(goal["attributes"]) + len(goal["goal_options"]) + 1)
    total *= kind["r_type"]
    return total, {**kind, "r_price": r_price, "num_attr_matches": n_att,
                   "num_option_matches": n_opt}
