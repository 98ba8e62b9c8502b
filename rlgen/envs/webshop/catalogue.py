"""The product catalogue, read from files in the original WebShop format.

`data_dir` names the source, always explicitly (it is an env option, so run configs and dataset
cards record it):
- `1k` (default): the real 1,000-product catalogue packaged with rlgen (`data/*.json.zst`).
- `full`: the 1.18M-product catalogue in the cache, after `rlgen data fetch webshop --size full`.
- a folder holding `items_shuffle_1000.json` + `items_ins_v2_1000.json` or `items_shuffle.json` +
  `items_ins_v2.json` (each may be `.zst`-compressed), and optionally `product_title_nouns.json`
  (asin -> noun tokens of the name, which the type reward needs).
Products are cleaned as the original `load_products` does: duplicates and bad ASINs dropped,
option values lower-cased with `/` turned into ` | `, prices parsed from `$` pieces.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGED = "1k"
FULL = "full"
#: (products file, attributes file) pairs looked for in a data directory, first found wins.
CATALOGUE_FILES = (
    ("items_shuffle_1000.json", "items_ins_v2_1000.json"),
    ("items_shuffle.json", "items_ins_v2.json"),
)
NOUNS_FILE = "product_title_nouns.json"
#: Price ceilings offered to goals: 10, 20, ..., 990 (the original's PRICE_RANGE).
PRICE_RANGE = [10.0 * i for i in range(1, 100)]


@dataclass(eq=False)
class Product:
    asin: str
    name: str
    description: str
    bullet_points: list[str]
    product_category: str
    query: str
    category: str
    #: option name -> values, in file order (names lower-cased, values cleaned).
    options: dict[str, list[str]]
    attributes: list[str]
    instruction: str | None
    instruction_attributes: list[str] | None
    pricing: list[float]
    price_tag: str
    price: float = 0.0  # resolved at load (a range draws random.uniform)


@dataclass(eq=False)
class Catalogue:
    products: list[Product]
    by_asin: dict[str, Product]
    nouns: dict[str, list[str]]
    #: the `data_dir` value it was loaded from (`1k`, `full` or a folder)
    source: str
    goals: list[dict[str, Any]] = field(default_factory=list)

    def title_nouns(self, product: Product) -> list[str]:
        nouns = self.nouns.get(product.asin)
        return nouns if nouns is not None else heuristic_nouns(product.name)


def _parse_pricing(raw: Any) -> tuple[list[float], str]:
    if not raw:
        return [100.0], "$100.0"
    pieces = [re.sub(r"[^\d.]", "", piece) for piece in str(raw).split("$")[1:]]
    pricing = [float(Decimal(p)) for p in pieces if p]
    if not pricing:
        return [100.0], "$100.0"
    if len(pricing) == 1:
        return pricing, f"${pricing[0]}"
    return pricing[:2], f"${pricing[0]} to ${pricing[1]}"


def _parse_options(raw: Any) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    if not raw:
        return options
    for name, contents in raw.items():
        if contents is None:
            continue
        options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    return options


def parse_products(raw_products: list[dict], attributes: dict[str, dict]) -> list[Product]:
    """Products in file order, cleaned like the original's `load_products` (synthetic goals)."""
    seen: set[str] = set()
    out: list[Product] = []
    for p in raw_products:
        asin = p["asin"]
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        bullets = p["small_description"]
        attrs = attributes.get(asin, {})
        pricing, tag = _parse_pricing(p.get("pricing"))
        out.append(Product(
            asin=asin,
            name=p["name"],
            description=p["full_description"],
            bullet_points=bullets if isinstance(bullets, list) else [bullets],
            product_category=p["product_category"],
            query=p["query"].lower().strip(),
            category=p["category"],
            options=_parse_options(p.get("customization_options")),
            attributes=attrs["attributes"] if "attributes" in attrs else ["DUMMY_ATTR"],
            instruction=attrs.get("instruction"),
            instruction_attributes=attrs.get("instruction_attributes"),
            pricing=pricing,
            price_tag=tag,
        ))
    return out


def resolve_prices(products: list[Product]) -> None:
    """The original's `generate_product_prices`: consumes the global `random` stream in load order."""
    for p in products:
        p.price = random.uniform(*p.pricing[:2]) if len(p.pricing) > 1 else p.pricing[0]


_WORD = re.compile(r"[a-z]+")


def heuristic_nouns(name: str) -> list[str]:
    """Stand-in for spaCy's NOUN/PROPN tokens when no noun file is given: alphabetic words."""
    return sorted(_WORD.findall(name.lower()))


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.zst"):
        if candidate.exists():
            return candidate
    return None


def _catalogue_files(folder: Path) -> tuple[Path, Path] | None:
    for products, attrs in CATALOGUE_FILES:
        found = _find(folder, products), _find(folder, attrs)
        if found[0] and found[1]:
            return found[0], found[1]
    return None


def full_dir() -> Path:
    """Where `rlgen data fetch webshop --size full` puts the full catalogue."""
    from rlgen.envs.webshop.datafiles import FILESETS

    return FILESETS[FULL].destination()


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The folder `data_dir` (`1k`, `full` or a folder) reads from; missing files are an error
    that says how to get them. No value means the packaged `1k`."""
    from rlgen.envs.webshop.datafiles import PACKAGED_DIR

    key = str(data_dir) if data_dir is not None else PACKAGED
    if key == PACKAGED:
        return PACKAGED_DIR
    if key == FULL:
        folder = full_dir()
        if not _catalogue_files(folder):
            raise FileNotFoundError(f"the full WebShop catalogue is not in {folder}; fetch it with "
                                    "`rlgen data fetch webshop --size full` (or use data_dir=1k)")
        return folder
    if not key:
        raise ValueError("data_dir must be 1k (the packaged catalogue), full, or a folder")
    folder = Path(key).expanduser()
    if not _catalogue_files(folder):
        names = " or ".join(f"{a} + {b}" for a, b in CATALOGUE_FILES)
        raise FileNotFoundError(f"WebShop data directory {folder} lacks {names} "
                                "(data_dir is 1k, full or a folder)")
    return folder


def _read_json(path: Path) -> Any:
    if path.suffix == ".zst":
        import zstandard

        with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as reader:
            return json.load(reader)
    with open(path) as f:
        return json.load(f)


@lru_cache(maxsize=4)
def load_catalogue(data_dir: str | None = PACKAGED) -> Catalogue:
    """Products, prices and synthetic goals in the original's exact order (cached per source)."""
    from rlgen.envs.webshop.goals import synthetic_goals

    folder = resolve_data_dir(data_dir)
    products_path, attrs_path = _catalogue_files(folder)  # type: ignore[misc]
    raw = _read_json(products_path)
    attributes = _read_json(attrs_path)
    nouns: dict[str, list[str]] = {}
    nouns_path = _find(folder, NOUNS_FILE)
    if nouns_path is not None:
        nouns = {k: v for k, v in _read_json(nouns_path).items() if not k.startswith("_")}
    else:
        print(f"rlgen: warning: {folder / NOUNS_FILE} missing; the type reward uses all title "
              "words instead of spaCy nouns, so rewards differ from the original's",
              file=sys.stderr)
    products = parse_products(raw, attributes)
    # The original seeds the global stream, draws prices, builds goals, then reseeds and shuffles.
    # A private Random would be cleaner, but the goals must match the original's draw for draw.
    state = random.getstate()
    try:
        random.seed(0)
        resolve_prices(products)
        goals = synthetic_goals(products)
        random.seed(233)
        random.shuffle(goals)
    finally:
        random.setstate(state)
    by_asin = {p.asin: p for p in products}
    return Catalogue(products, by_asin, nouns, str(data_dir or PACKAGED), goals)
