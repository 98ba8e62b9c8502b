"""Synthetic goals: one per option combination of each product that has an instruction."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from typing import Any

from rlgen.envs.webshop.catalogue import PRICE_RANGE, Product

NO_PRICE_LIMIT = 1000000


def synthetic_goals(products: list[Product]) -> list[dict[str, Any]]:
    """The original's `get_synthetic_goals`, draw for draw on the global `random` stream."""
    goals: list[dict[str, Any]] = []
    attribute_counts: dict[str, int] = defaultdict(int)
    for product in products:
        if product.instruction is None:
            continue
        attributes = product.instruction_attributes or []
        price_range = [p for p in PRICE_RANGE if p > product.price][:4]
        if len(price_range) >= 2:
            _, price_upper = sorted(random.sample(price_range, 2))
            price_text = f", and price lower than {price_upper:.2f} dollars"
        else:
            price_upper, price_text = NO_PRICE_LIMIT, ""
        names = sorted(product.options)
        for combination in itertools.product(*(product.options[n] for n in names)):
            goal_options = dict(zip(names, combination, strict=True))
            option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
            option_text = f" with {option_text}" if option_text else ""
            goals.append({
                "asin": product.asin,
                "category": product.category,
                "query": product.query,
                "name": product.name,
                "product_category": product.product_category,
                "instruction_text": f"{product.instruction}{option_text}{price_text}",
                "attributes": attributes,
                "price_upper": price_upper,
                "goal_options": goal_options,
            })
            for att in attributes:
                attribute_counts[att] += 1
    for goal in goals:
        goal["weight"] = sum(1.0 / attribute_counts[a] for a in goal["attributes"]) / len(goal["attributes"])
    return goals
