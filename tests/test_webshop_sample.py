"""The small generated catalogue shipped for machines without the real WebShop data."""

from __future__ import annotations

import json
import subprocess
import sys

from rlgen.envs.webshop.catalogue import SAMPLE_DIR, load_catalogue
from rlgen.eval.evaluate import evaluate
from rlgen.paths import REPO_ROOT
from rlgen.registry import make_env_spec


def test_shipped_sample_is_what_the_script_writes(tmp_path):
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "webshop_make_sample_data.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("items_shuffle.json", "items_ins_v2.json", "product_title_nouns.json"):
        assert json.loads((tmp_path / name).read_text()) == json.loads((SAMPLE_DIR / name).read_text())


def test_sample_catalogue_warns_and_plays(capfd):
    load_catalogue.cache_clear()
    catalogue = load_catalogue("sample")
    assert "SAMPLE catalogue" in capfd.readouterr().err
    assert catalogue.is_sample and len(catalogue.products) == 56 and len(catalogue.goals) > 50
    spec = make_env_spec("webshop", data_dir="sample")
    splits = spec.splits
    assert len(splits["test"]) and len(splits["val"]) and len(splits["train"])
    from rlgen.envs.webshop.expert import make_policy

    _, summary = evaluate(make_policy(spec, "expert"), spec, ["train"], 30, progress=False)
    assert summary["splits"]["train"]["success_rate"] >= 0.9
