"""Write the small synthetic WebShop catalogue shipped for machines without the real data.

    python scripts/webshop_make_sample_data.py [--out rlgen/envs/webshop/sample_data]

Products are invented from templates (no real product text), in the original's file schema:
`items_shuffle.json` (products), `items_ins_v2.json` (attributes + instructions) and
`product_title_nouns.json` (the nouns of each title, known here from the templates).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

# (category, product_category, query, noun phrases, attributes, option groups)
KINDS = [
    ("fashion", "Clothing, Shoes & Jewelry › Men › Shoes › Sneakers", "men's sneakers",
     ["running shoes", "walking sneakers", "trail shoes"],
     ["rubber sole", "lace closure", "memory foam", "non slip", "arch support"],
     {"color": ["black", "white", "navy blue", "grey"], "size": ["8", "9", "10", "11"]}),
    ("fashion", "Clothing, Shoes & Jewelry › Women › Clothing › Dresses", "women's dresses",
     ["summer dress", "maxi dress", "party dress"],
     ["machine wash", "short sleeve", "polyester spandex", "elastic waist"],
     {"color": ["red", "floral blue", "black"], "size": ["small", "medium", "large"]}),
    ("beauty", "Beauty & Personal Care › Skin Care › Face › Moisturizers", "face moisturizers",
     ["face cream", "night moisturizer", "day lotion"],
     ["dry skin", "paraben free", "natural ingredients", "fine lines", "hyaluronic acid"],
     {"size": ["1.7 ounce", "3.4 ounce"]}),
    ("grocery", "Grocery & Gourmet Food › Snacks & Sweets › Cookies", "cookies",
     ["oatmeal cookies", "chocolate chip cookies", "sugar cookies"],
     ["gluten free", "low sugar", "non gmo", "individually wrapped"],
     {"flavor name": ["vanilla", "chocolate", "peanut butter"], "size": ["pack of 6", "pack of 12"]}),
    ("electronics", "Electronics › Headphones › Earbud Headphones", "wireless earbuds",
     ["wireless earbuds", "bluetooth headphones", "sport earphones"],
     ["noise cancelling", "fast charging", "long lasting", "water resistant"],
     {"color": ["black", "white"]}),
    ("garden", "Home & Kitchen › Furniture › Living Room Furniture › Tables", "coffee tables",
     ["coffee table", "side table", "console table"],
     ["solid wood", "easy assemble", "storage space", "living room"],
     {}),
    ("home", "Home & Kitchen › Bedding › Decorative Pillows", "throw pillow covers",
     ["pillow cover", "cushion case", "throw pillowcase"],
     ["double sided", "machine washable", "printing technology", "living room"],
     {"size": ['16" x 16"', '18" x 18"', '20" x 20"'], "color": ["beige", "grey", "green"]}),
]
BRANDS = ["Acmeo", "Brightline", "Corvana", "Dunmore", "Elsworth", "Fenwick", "Galloway",
          "Harwick", "Ivorel", "Juniper"]
ADJECTIVES = ["classic", "premium", "lightweight", "modern", "everyday", "deluxe"]


def make_catalogue(products_per_kind: int = 8, seed: int = 0):
    rng = random.Random(seed)
    items, attributes, nouns = [], {}, {}
    n = 0
    for category, product_category, query, phrases, attrs, option_groups in KINDS:
        for _ in range(products_per_kind):
            n += 1
            asin = f"B0SAMPLE{n:02d}"
            brand, adj, phrase = rng.choice(BRANDS), rng.choice(ADJECTIVES), rng.choice(phrases)
            chosen = rng.sample(attrs, k=min(len(attrs), rng.randint(2, 3)))
            name = f"{brand} {adj.title()} {phrase.title()} with {chosen[0].title()}"
            base = round(rng.uniform(8, 120), 2)
            pricing = f"${base}" if rng.random() < 0.8 else f"${base} - ${round(base * 1.4, 2)}"
            groups = {g: rng.sample(v, k=rng.randint(1, len(v))) for g, v in option_groups.items()
                      if rng.random() < 0.8}
            items.append({
                "name": name,
                "full_description": f"This {adj} {phrase} by {brand} offers {', '.join(chosen)}.",
                "images": [],
                "product_category": product_category,
                "average_rating": "",
                "small_description": [f"{a.capitalize()} for everyday use" for a in chosen],
                "customization_options": {g.title(): [{"value": v, "image": None} for v in vals]
                                          for g, vals in groups.items()} or "",
                "asin": asin,
                "category": category,
                "query": query,
                "page": 1,
                "pricing": pricing,
            })
            entry: dict = {"attributes": chosen}
            if rng.random() < 0.7:
                want = chosen[:2]
                entry["instruction"] = f"Find me {', '.join(want)} {query}"
                entry["instruction_attributes"] = want
            attributes[asin] = entry
            words = [brand.lower(), *phrase.split(), *chosen[0].split()]
            nouns[asin] = sorted(w for w in words if w not in ADJECTIVES)
    return items, attributes, nouns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "rlgen" / "envs" /
                                         "webshop" / "sample_data"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items, attributes, nouns = make_catalogue(seed=args.seed)
    nouns = {"_meta": {"description": "nouns of each sample title, from the generator's templates"},
             **nouns}
    for name, data in (("items_shuffle.json", items), ("items_ins_v2.json", attributes),
                       ("product_title_nouns.json", nouns)):
        (out / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} sample products to {out}")


if __name__ == "__main__":
    main()
