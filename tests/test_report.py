"""`rlgen report` over a sweep folder: grouping by the sweep's axes, the tables, the plots, and the
self-contained HTML page, loaded in headless Chromium (Debian's package)."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import write_toy_sweep

from rlgen.cli import main
from rlgen.eval import stats
from rlgen.eval import sweep_report as S
from rlgen.eval.tables import Table


@pytest.fixture(scope="module")
def sweep_out(tmp_path_factory):
    """4 PPO trials (2 learning rates × 2 seeds) done, 4 failed (an unknown env option)."""
    path = write_toy_sweep(tmp_path_factory.mktemp("report-sweep"), "lr", bc=False, ppo_steps=128,
                           axes='"overrides.lr" = [1e-3, 3e-4]\nseed = [0, 1]',
                           extra="[[trials]]\n[[trials]]\nenv_options = { bogus = 1 }\n"
                                 "[variants.tiny]\naxes = { seed = [0] }",
                           description="PPO at two learning rates, two seeds, and one trial that fails")
    out = path.parent / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 1
    return out


def test_stratified_bootstrap_is_reproducible_and_resamples_within_tasks():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2)) + 0.3
    for f in (stats.iqm_with_ci, stats.mean_with_ci):
        assert f(x) == f(x) and f(x, seed=1) != f(x)
    assert stats.probability_of_improvement(x, y) == stats.probability_of_improvement(x, y)
    taus = np.linspace(-2, 2, 9)
    (p1, c1), (_, c2) = stats.performance_profile({"x": x}, taus), stats.performance_profile({"x": x}, taus)
    assert np.array_equal(c1["x"], c2["x"]) and c1["x"].shape == (2, 9)
    assert np.all(c1["x"][0] <= p1["x"] + 1e-12) and np.all(p1["x"] <= c1["x"][1] + 1e-12)
    # one task always 1, the other always 0: every within-task resample has mean 0.5 exactly
    m = np.column_stack([np.ones(5), np.zeros(5)])
    assert stats.mean_with_ci(m) == (0.5, [0.5, 0.5])


def test_probability_of_improvement_equals_rliable():
    from rliable import metrics

    rng = np.random.default_rng(3)
    for nx, ny, tasks in ((5, 4, 3), (2, 2, 1), (7, 3, 2)):
        x, y = np.round(rng.normal(size=(nx, tasks)), 1), np.round(rng.normal(size=(ny, tasks)), 1)
        assert stats.probability_of_improvement(x, y)[0] == pytest.approx(
            metrics.probability_of_improvement(x, y), abs=1e-12)


def test_report_groups_trials_by_the_sweeps_axes(sweep_out, capsys, tmp_path):
    assert main(["report", str(sweep_out), "--out", str(tmp_path / "r.md")]) == 0
    text = capsys.readouterr().out
    assert "8 trials (4 done, 4 failed)" in text and "grouped by overrides.lr, env_options.bogus" in text
    groups = [ln for ln in text.splitlines() if re.match(r"\| 0\.00(1|03) \| None \| 2 × 1 \|", ln)]
    assert len(groups) == 2  # the two learning rates, each over 2 seeds × 1 task
    failed = [ln for ln in text.splitlines() if "| 1 | – (0 of 2 trials) |" in ln]
    assert len(failed) == 2  # the failing trials still form groups, with nothing to aggregate
    poi = [ln for ln in text.splitlines() if ln.startswith("| overrides.lr | env_options.bogus=None |")]
    assert len(poi) == 1 and "2 × 2" in poi[0]
    assert 0.0 <= float(poi[0].split("|")[5].split()[0]) <= 1.0
    trials = [ln for ln in text.splitlines() if re.match(r"\| ppo-toy-identity-s[01]-[0-9a-f]{6} \|", ln)]
    assert len(trials) == 8 and sum("| failed |" in ln for ln in trials) == 4
    assert all("unknown toy option 'bogus'" in ln for ln in trials if "| failed |" in ln)
    assert (tmp_path / "r.md").read_text().strip() == text[:text.index("\nplot: ")].strip()
    for name in ("report.png", "report-groups.png", "report-profile.png"):
        assert (sweep_out / name).stat().st_size > 5000
    again = S.build(S.load_sweep_dir(sweep_out)).markdown()
    assert again in text  # same seeds, same intervals


def test_report_without_the_sweep_file_groups_by_what_varies(sweep_out, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(sweep_out, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["sweep"] = str(tmp_path / "gone.toml")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    data = S.load_sweep_dir(moved)
    assert any("gone.toml is not here" in p for p in data.problems)
    assert {t.run.parent for t in data.trials if t.state == "done"} == {moved}  # found in the copy
    rep = S.build(data)
    assert set(rep.grouping.keys) == {"overrides.lr", "env_options.bogus"} and len(rep.grouping.groups) == 4


def test_table_markdown_round_trip():
    t = Table(["a", "b | c"], [["1", "x|y"], ["-0.5 [0, 1]", ""]])
    back = Table.from_markdown("intro\n\n" + t.markdown())
    assert back.header == t.header and back.rows == t.rows


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _load(page, tmp_path):
    """Headless Chromium's DOM after load, and its console lines."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed (make test installs it: apt-get install -y chromium)")
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return proc.stdout, console


def test_html_page_loads_in_headless_chromium_with_every_trial(sweep_out, tmp_path, capsys):
    page = tmp_path / "report.html"
    assert main(["report", str(sweep_out), "--html", str(page), "--plot", str(tmp_path / "p.png")]) == 0
    html = page.read_text()
    assert "src=\"http" not in html and "href=\"http" not in html  # self-contained
    assert html.count("data:image/png;base64,") == 3 and "PPO at two learning rates" in html
    assert "git commit" in html and "rlgen report" in html and "torch" in html
    dom, console = _load(page, tmp_path)
    assert console == []
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-images="3"' in body and 'data-images-ok="3"' in body and 'data-rows="8"' in body
    names = json.loads((sweep_out / "manifest.json").read_text())["trials"]
    for name, entry in names.items():
        row = re.search(rf'<tr [^>]*id="trial-{re.escape(name)}"[^>]*>(.*?)</tr>', dom)
        assert row and f">{entry['state']}<" in row.group(1)


def test_broken_page_is_caught_by_the_browser_check(tmp_path):
    """The check above can fail: a script error shows up on the console, a bad image in the count."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"><script>nope();</script></body></html>')
    dom, console = _load(page, tmp_path)
    assert any("nope is not defined" in ln for ln in console)


def test_html_for_a_list_of_runs(sweep_out, tmp_path, capsys):
    runs = sorted(p for p in sweep_out.iterdir() if (p / "summary.json").exists())
    page = tmp_path / "runs.html"
    assert main(["report", *map(str, runs), "--plot", str(tmp_path / "r.png"), "--html", str(page)]) == 0
    html = page.read_text()
    assert html.count('class="trial"') == 4 and html.count("data:image/png;base64,") == 2
    assert ">Groups<" in html and ">Runs<" in html


def test_env_axis_is_the_task_dimension(tmp_path):
    """Trials that differ in env only form one group whose matrix is seeds × envs."""
    def summary(score):
        def split(v):
            return {"normalized_mean": v, "normalized_mean_ci": [v - 0.1, v + 0.1]}

        return {"splits": {"train": split(score + 0.1), "test": split(score)},
                "generalization_gap": {"value": 0.1, "ci": [0.1, 0.1]}}

    trials = []
    for agent, base in (("a", 0.8), ("b", 0.2)):
        for env in ("toy:one", "toy:two"):
            for seed in (0, 1, 2):
                params = {"agent": agent, "env": env, "seed": seed}
                trials.append(S.SweepTrial(f"{agent}-{env}-{seed}", params, "done", {},
                                           summary(base + 0.01 * seed), tmp_path))
    data = S.SweepData(tmp_path, "t", None, None, None, ["agent", "env", "seed"], trials)
    grouping = S.group_trials(data)
    assert grouping.keys == ["agent"] and grouping.tasks == ["toy:one", "toy:two"]
    assert [S._matrix(g, "test").shape for g in grouping.groups] == [(3, 2), (3, 2)]
    rep = S.build(data)
    groups, poi = rep.tables[0][1], rep.tables[1][1]
    assert [r[:2] for r in groups.rows] == [["a", "3 × 2"], ["b", "3 × 2"]]
    assert poi.rows == [["agent", "–", "a", "b", "1.000 [1.000, 1.000]", "3 × 3"]]
    assert "(2 tasks: toy:one, toy:two)" in groups.caption
    assert rep.tables[2][1].header[2:5] == ["agent", "env", "seed"]  # trials show the env
