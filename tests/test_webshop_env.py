"""Pages, transitions, observations, invalid actions, options and splits of the WebShop env."""

from __future__ import annotations

import pytest

from rlgen.eval.evaluate import evaluate
from rlgen.registry import UnknownNameError, make_env_spec

TARGET = "B0743JKHBV"  # goal 0's product: decorative pillow cover, option size 28" x 28"


@pytest.fixture(scope="module")
def spec():
    return make_env_spec("webshop")


def _at_results(env, level=0):
    obs, info = env.reset(options={"level": level})
    obs, r, term, trunc, info = env.step(info["valid_actions"][0])
    assert info["page"] == "results" and r == 0 and not term
    return obs, info


def test_spec_is_just_webshop_and_options_are_checked(spec):
    assert spec.id == "webshop" and spec.task == ""
    with pytest.raises(UnknownNameError, match="observation_mode"):
        make_env_spec("webshop", observaton_mode="text")
    with pytest.raises(ValueError, match="split"):
        make_env_spec("webshop", split="by_colour")
    with pytest.raises(ValueError, match="no tasks"):
        make_env_spec("webshop:shoes")
    with pytest.raises(FileNotFoundError):
        make_env_spec("webshop", data_dir="/nonexistent/webshop")
    with pytest.raises(ValueError, match="1k"):
        make_env_spec("webshop", data_dir="")


def test_the_real_1k_catalogue_is_packaged_and_the_default(spec):
    from rlgen.envs.webshop.catalogue import load_catalogue, resolve_data_dir
    from rlgen.envs.webshop.datafiles import PACKAGED_DIR

    assert spec.options["data_dir"] == "1k"  # explicit, so run configs and dataset cards say it
    assert resolve_data_dir("1k") == PACKAGED_DIR and PACKAGED_DIR.parent.name == "webshop"
    assert "MIT License" in (PACKAGED_DIR / "LICENSE").read_text()
    catalogue = load_catalogue("1k")
    assert catalogue.source == "1k" and len(catalogue.products) == 1000
    assert len(catalogue.goals) == 6910 and len(catalogue.nouns) == 1000


def test_a_small_compressed_folder_catalogue_scales_the_splits(tmp_path, capfd):
    """A folder in the original format (here 60 real products, zstd-compressed, no noun file)."""
    import json

    import zstandard

    from rlgen.envs.webshop.catalogue import load_catalogue
    from rlgen.envs.webshop.datafiles import open_packaged

    with open_packaged("items_shuffle_1000.json") as f:
        products = json.load(f)[:60]
    with open_packaged("items_ins_v2_1000.json") as f:
        attributes = json.load(f)
    keep = {p["asin"] for p in products}
    for name, data in (("items_shuffle_1000.json", products),
                       ("items_ins_v2_1000.json", {k: v for k, v in attributes.items() if k in keep})):
        (tmp_path / f"{name}.zst").write_bytes(zstandard.compress(json.dumps(data).encode()))
    small = make_env_spec("webshop", data_dir=str(tmp_path))
    catalogue = load_catalogue(str(tmp_path))
    assert "type reward uses all title words" in capfd.readouterr().err
    assert catalogue.source == str(tmp_path) and len(catalogue.products) == 60
    n = len(catalogue.goals)
    splits = small.splits
    assert 0 < len(splits["test"]) < len(splits["val"]) < n
    assert sum(len(splits[k]) for k in ("train", "val", "test")) == n
    assert len(splits["test"]) == max(1, round(500 * n / 6910))


def test_index_page_and_reset_to_level(spec):
    env = spec.make_env()
    obs, info = env.reset(options={"level": 0})
    assert obs.startswith("WebShop\nInstruction:\nFind me double sided, machine washable")
    assert info["level"] == 0 and info["page"] == "index"
    assert info["valid_actions"] == [f"search[{env.goal['instruction_text'].lower()}]"]
    text_env = make_env_spec("webshop", observation_mode="text").make_env()
    obs, _ = text_env.reset(options={"level": 0})
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] Find me double sided")
    assert obs.endswith(" [SEP] Search")


def test_invalid_actions_are_no_ops(spec):
    env = spec.make_env()
    obs0, info0 = env.reset(options={"level": 0})
    for bad in ["click[buy now]", "click[next >]", "nonsense", "search[]", "search[<r> shoes]",
                "click[b0743jkhbv]", "jump[over]"]:
        obs, r, term, trunc, info = env.step(bad)
        assert (obs, r, term) == (obs0, 0.0, False), bad
        assert info["valid_actions"] == info0["valid_actions"] and info["page"] == "index"
    obs1, info1 = _at_results(env)
    for bad in ["search[pillow]", "click[< prev]", "click[buy now]", "click[description]",
                "click[b000000000]", "click[search]"]:
        obs, r, term, trunc, info = env.step(bad)
        assert (obs, r, term, info["page"], info["results_page"]) == (obs1, 0.0, False, "results", 1), bad


def test_page_transitions(spec):
    env = spec.make_env()
    obs, info = _at_results(env)
    assert "click[< prev]" not in info["valid_actions"] and "click[next >]" in info["valid_actions"]
    products = [a for a in info["valid_actions"] if a.startswith("click[b0")]
    assert len(products) == 10 and f"click[{TARGET.lower()}]" in products
    assert "Page 1 (Total results: 50)" in obs
    obs, _, _, _, info = env.step("click[next >]")
    assert info["results_page"] == 2 and "click[< prev]" in info["valid_actions"]
    assert "Page 2 (Total results: 50)" in obs
    for _ in range(4):
        obs, _, _, _, info = env.step("click[next >]")
    # Past the last page: empty, but `next >` is still offered.
    assert info["results_page"] == 6 and not [a for a in info["valid_actions"] if a.startswith("click[b0")]
    assert "click[next >]" in info["valid_actions"]
    for _ in range(5):
        env.step("click[< prev]")
    obs, _, _, _, info = env.step(f"click[{TARGET.lower()}]")
    assert info["page"] == "item" and info["asin"] == TARGET
    assert info["valid_actions"][:6] == ["click[back to search]", "click[< prev]", "click[description]",
                                         "click[features]", "click[reviews]", "click[buy now]"]
    obs, _, _, _, info = env.step('click[28" x 28"]')
    assert dict(info["chosen_options"]) == {"size": '28" x 28"'}
    obs, _, _, _, info = env.step('click[16" x 16"]')  # same group: replaces
    assert dict(info["chosen_options"]) == {"size": '16" x 16"'}
    obs, _, _, _, info = env.step("click[features]")
    assert info["page"] == "sub" and info["valid_actions"] == ["click[back to search]", "click[< prev]"]
    obs, _, _, _, info = env.step("click[< prev]")  # sub-page -> item, options kept
    assert info["page"] == "item" and dict(info["chosen_options"]) == {"size": '16" x 16"'}
    obs, _, _, _, info = env.step("click[< prev]")  # item -> same results page, options cleared
    assert info["page"] == "results" and info["results_page"] == 1 and dict(info["chosen_options"]) == {}
    assert f"[clicked button] {TARGET} [clicked button_]" in obs
    obs, _, _, _, info = env.step("click[back to search]")
    assert info["page"] == "index" and info["keywords"] is None
    obs, _, _, _, info = env.step(info["valid_actions"][0])
    assert f"[clicked button] {TARGET}" not in obs  # visited products were cleared


def test_text_rich_item_page_of_a_real_product(spec):
    env = spec.make_env()
    _at_results(env)
    env.step(f"click[{TARGET.lower()}]")
    obs, *_ = env.step('click[28" x 28"]')
    lines = obs.split("\n")
    assert lines[0] == 'You have clicked 28" x 28".'
    assert '  [clicked button] 28" x 28" [clicked button_]' in lines
    assert '  [button] 16" x 16" [button_]' in lines
    assert lines[lines.index("size") + 1] == '  [button] 16" x 16" [button_]'
    assert "Ambesonne Abstract Throw Pillow Cushion Cover, Geometric Composition" in obs
    assert "Price: $14.95" in lines and "Rating: N.A." in lines
    assert lines[-1] == "[button] Buy Now [button_]"
    obs, *_ = env.step("click[description]")
    assert env.catalogue.by_asin[TARGET].description.strip() in obs


def test_buying_ends_with_the_reference_reward(spec):
    env = spec.make_env()
    _at_results(env)
    env.step(f"click[{TARGET.lower()}]")
    obs, r, term, trunc, info = env.step("click[buy now]")  # no option chosen: 3 of 4 + price
    assert term and not trunc and info["success"] is False
    assert r == pytest.approx(0.8) and info["valid_actions"] == []
    with pytest.raises(RuntimeError):
        env.step("click[back to search]")


def test_step_limit_truncates_with_zero_reward():
    spec = make_env_spec("webshop", max_steps=3)
    env = spec.make_env()
    env.reset(options={"level": 5})
    outs = [env.step("click[nothing]") for _ in range(3)]
    assert [o[3] for o in outs] == [False, False, True] and all(o[1] == 0 for o in outs)
    assert outs[-1][4]["success"] is False and not outs[-1][2]


def test_memory_prepends_previous_observation_and_action():
    spec = make_env_spec("webshop", memory=1, observation_mode="text")
    env = spec.make_env()
    obs0, info = env.reset(options={"level": 3})
    action = info["valid_actions"][0]
    obs1, *_ = env.step(action)
    assert obs1.startswith(f"{obs0} [SEP] {action} [SEP] Instruction:")


def test_instruction_and_product_splits_are_disjoint_and_enumerated(spec):
    splits = spec.splits
    assert splits["test"].levels == tuple(range(500))
    assert splits["val"].levels == tuple(range(500, 1500))
    assert splits["train"].levels == tuple(range(1500, 6910))
    prod = make_env_spec("webshop", split="product").splits
    catalogue_goals = spec.make_env().catalogue.goals
    asins = {k: {catalogue_goals[i]["asin"] for i in prod[k].levels} for k in ("train", "val", "test")}
    assert not asins["train"] & asins["test"] and not asins["train"] & asins["val"]
    assert not asins["val"] & asins["test"]
    assert sum(len(prod[k]) for k in ("train", "val", "test")) == 6910
    assert len(prod["test"]) >= 500 and len(prod["val"]) >= 1000
    again = make_env_spec("webshop", split="product").splits
    assert again["test"].levels == prod["test"].levels


def test_search_finds_products_and_ignores_stop_words(spec):
    env = spec.make_env()
    engine, catalogue = env.engine, env.catalogue
    assert engine.search("the of and with") == []
    for product in catalogue.products[:20]:
        assert product.asin in engine.search(product.name)[:3]


def test_expert_solves_most_test_goals(spec):
    from rlgen.envs.webshop.expert import make_policy

    _, summary = evaluate(make_policy(spec, "expert"), spec, ["test"], 100, progress=False)
    test = summary["splits"]["test"]
    assert test["success_rate"] >= 0.85 and test["mean_return"] >= 0.95
    _, summary = evaluate(make_policy(spec, "uniform"), spec, ["test"], 30, progress=False)
    assert summary["splits"]["test"]["mean_return"] < 0.6
