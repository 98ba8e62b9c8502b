"""`rlgen` command line: parses arguments and calls library functions (rlgen.train, ...)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlgen.config import parse_override


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"rlgen: error: {message}\n")


def _env_options(args: argparse.Namespace) -> dict:
    options = dict(parse_override(o) for o in getattr(args, "env_opt", None) or [])
    if getattr(args, "distribution_mode", None):
        options["distribution_mode"] = args.distribution_mode
    if getattr(args, "num_levels", None) is not None:
        options["num_levels"] = args.num_levels
    return options


def cmd_train(args: argparse.Namespace) -> int:
    from rlgen import train as T

    if args.resume:
        run = T.resume(args.resume, device=None if args.device == "auto" else args.device,
                       progress=not args.quiet)
    else:
        if not args.agent or not args.env:
            raise ValueError("train needs --agent and --env (or --resume RUN_DIR)")
        req = T.TrainRequest(
            agent=args.agent, env=args.env, steps=args.steps, seed=args.seed, device=args.device,
            name=args.name, runs_root=args.runs_root,
            overrides=dict(parse_override(o) for o in args.set or []),
            env_options=_env_options(args), dataset=args.dataset, evaluate=not args.no_eval,
            episodes=args.episodes, splits=_splits(args.splits), progress=not args.quiet)
        run = T.train(req)
    print(f"run directory: {run.path}")
    if (run.path / "summary.json").exists():
        _print_summary(run.read_summary())
    return 0


def _ci(ci: list[float], digits: int = 3) -> str:
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _splits(text: str | None) -> tuple[str, ...] | None:
    return tuple(s for s in text.split(",") if s) if text else None


def _print_summary(summary: dict) -> None:
    if any("normalized_mean_ci" not in s for s in summary["splits"].values()):
        print("this summary.json predates the level-bootstrap statistics: run `rlgen evaluate` again")
        return
    for split, s in summary["splits"].items():
        extra = (f", success {s['success_rate']:.2f} {_ci(s['success_rate_ci'], 2)}"
                 if "success_rate" in s else "")
        print(f"{split:>5}: {s['episodes']} episodes on {s['levels']} levels, mean return "
              f"{s['mean_return']:.3f}, normalized mean {s['normalized_mean']:.3f} "
              f"{_ci(s['normalized_mean_ci'])}{extra}")
    for key in ("generalization_gap", "generalization_gap_success"):
        gap = summary.get(key)
        if gap:
            print(f"generalization gap ({gap['metric']}): {gap['value']:.3f} {_ci(gap['ci'])}")
    if summary["splits"]:
        print("(95% CIs resample levels: episodes on one level count together; docs/statistics.md)")


def cmd_collect(args: argparse.Namespace) -> int:
    from rlgen.config import parse_count
    from rlgen.data import recipes

    if args.recipe:
        recipe = recipes.load_recipe(args.recipe)
        if args.transitions is not None:  # an explicit size overrides the recipe's
            from dataclasses import replace

            n = parse_count(args.transitions)
            recipe = replace(recipe, transitions=n, name=f"{recipe.name}-{n}", default=False)
        paths = recipes.build(recipe, out=args.out, progress=not args.quiet, device=args.device)
    else:
        if not (args.env and args.policy and args.out):
            raise ValueError("collect needs --recipe, or --env, --policy and --out")
        from rlgen.agents.loading import load_policy
        from rlgen.data.collect import collect
        from rlgen.registry import make_env_spec

        spec = make_env_spec(args.env, **_env_options(args))
        policy, behavior = load_policy(args.policy, spec, device=args.device, seed=args.seed)
        paths = [collect(spec, policy, args.out, parse_count(args.transitions or "100k"), args.split,
                         args.num_envs, args.seed, resume=args.resume, behavior=behavior,
                         progress=not args.quiet)]
    from rlgen.data.storage import EpisodeDataset

    for path in paths:
        card = EpisodeDataset.load(path).card
        r = card.get("returns", {})
        print(f"{path}: {card['episodes']} episodes, {card['transitions']} transitions, "
              f"{card.get('distinct_levels')} levels, return mean {r.get('mean', float('nan')):.3f} "
              f"(min {r.get('min', float('nan')):.3g}, max {r.get('max', float('nan')):.3g}), "
              f"{card['bytes_on_disk'] / max(card['transitions'], 1):.0f} bytes/transition")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    import json

    from rlgen.data.storage import EpisodeDataset

    ds = EpisodeDataset.load(args.path)
    if args.dataset_command == "info":
        card = {k: v for k, v in ds.card.items() if k not in ("split_levels", "provenance")}
        print(json.dumps(card, indent=2, default=str))
    elif args.to == "minari":
        from rlgen.data.export import to_minari

        m = to_minari(ds, args.id, args.root)
        print(f"minari dataset {args.id} under {args.root}: {m.total_episodes} episodes, "
              f"{m.total_steps} steps (Minari re-encodes image frames lossily)")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from rlgen.data.fetch import fetch
    from rlgen.registry import UnknownNameError, env_family

    family = env_family(args.family)
    if not hasattr(family, "data_files"):
        raise ValueError(f"{args.family} has no data files to fetch")
    filesets = family.data_files()
    if args.size not in filesets:
        raise UnknownNameError(f"{args.family} data size", args.size, list(filesets))
    fileset = filesets[args.size]
    if not args.quiet:
        print(f"{fileset.name}: {fileset.note}")
    folder = fetch(fileset, url_base=args.url_base, progress=not args.quiet,
                   log=(lambda _: None) if args.quiet else print)
    print(f"{fileset.name}: {folder}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rlgen.train import evaluate_run

    summary = evaluate_run(args.run, _splits(args.splits), args.episodes,
                           device=None if args.device == "auto" else args.device, seed=args.seed,
                           num_envs=args.num_envs, progress=not args.quiet)
    _print_summary(summary)
    return 0


def _report_command(args: argparse.Namespace) -> str:
    import shlex

    argv = ["rlgen", "report", *args.runs]
    for flag in ("plot", "out", "profile", "html"):
        if getattr(args, flag):
            argv += [f"--{flag}", str(getattr(args, flag))]
    return shlex.join(argv)


def _print_sweep_report(out: str | Path, markdown: str | Path | None):
    """The grouped report over a sweep folder, printed (and written to `markdown`): what
    `rlgen report SWEEP_DIR` prints and what `rlgen sweep` prints when its trials end."""
    from rlgen.eval import sweep_report as S

    data = S.load_sweep_dir(out)
    for line in data.problems:
        print(line)
    rep = S.build(data)
    text = rep.markdown()
    print(text)
    if markdown:
        Path(markdown).write_text(text + "\n")
    return rep


def _report_sweep(args: argparse.Namespace) -> int:
    from rlgen.eval import html as H
    from rlgen.eval import provenance as P
    from rlgen.eval import sweep_report as S

    rep = _print_sweep_report(args.runs[0], args.out)
    data = rep.data
    base = Path(args.plot) if args.plot else data.out / "report.png"
    for caption, path in S.write_plots(rep, base):
        print(f"plot: {path} ({caption})")
    if args.html:
        page = H.Page(f"rlgen report: sweep {data.name}" + (f" ({data.variant})" if data.variant else ""),
                      [rep.headline()], rep.tables, rep.plots, problems=data.problems,
                      trial_table="Trials")
        if data.sweep_text is not None:
            page.texts.append((f"Sweep file {data.sweep_path}", data.sweep_text))
        page.provenance.append(("This report", P.report_provenance(_report_command(args))))
        runs = P.runs_provenance([t.run for t in data.trials if t.run.exists()])
        if runs:
            page.provenance.append(("The trials (their provenance.json)", runs))
        print(f"html: {H.write(page, args.html)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rlgen.eval import report as R
    from rlgen.eval import sweep_report as S

    if len(args.runs) == 1 and S.is_sweep_dir(args.runs[0]):
        return _report_sweep(args)
    paths: list[str | Path] = []
    for p in args.runs:  # a sweep folder among other paths stands for its trials' runs
        paths += [t.run for t in S.load_sweep_dir(p).trials] if S.is_sweep_dir(p) else [p]
    loaded = R.load_summaries(paths)
    for line in loaded.problems:
        print(line)
    if not loaded.summaries:
        raise FileNotFoundError("no run with a current summary.json among the given paths")
    text = R.report(loaded.summaries)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    plot = args.plot or "report.png"
    plots = [("Per run: train and test mean normalized return, level-bootstrap 95% CIs",
              R.plot(loaded.summaries, plot))]
    print(f"plot: {plots[0][1]}")
    profile = args.profile or Path(plot).with_name(Path(plot).stem + "-profile.png")
    plots.append(("Performance profiles (rliable), 95% bands over seeds",
                  R.profile_plot(loaded.summaries, profile)))
    print(f"performance profile: {plots[1][1]}")
    if args.html:
        from rlgen.eval import html as H
        from rlgen.eval import provenance as P

        prov = [("This report", P.report_provenance(_report_command(args)))]
        runs = P.runs_provenance([s["run"] for s in loaded.summaries if s.get("run")])
        if runs:
            prov.append(("The runs (their provenance.json)", runs))
        page = H.markdown_page(f"rlgen report: {len(loaded.summaries)} runs", text, plots, prov)
        page.problems = loaded.problems
        print(f"html: {H.write(page, args.html)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rlgen.eval.compare import compare_runs, format_comparison

    splits = tuple(args.splits.split(",")) if args.splits else None
    rows, notes = compare_runs(args.run_a, args.run_b, splits, seed=args.seed)
    print(f"A = {args.run_a}\nB = {args.run_b}")
    for note in notes:
        print(f"note: {note}")
    print(format_comparison(rows))
    print("(differences over episodes on levels both runs played; 95% CI and P(A > B) from a "
          "paired bootstrap over those levels; docs/statistics.md)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rlgen.registry import AGENTS, ENV_FAMILIES, agent_class, env_family

    if args.env and args.what != "agents":
        raise ValueError("--env filters `rlgen list agents` only")
    tables = {"objectives": "objective", "wrappers": "training wrapper", "judges": "judge"}
    if args.what in tables:
        from rlgen.registry import TABLES, load_entry_point

        for name, entry in TABLES[tables[args.what]].items():
            doc = (load_entry_point(entry).__doc__ or "").strip().splitlines()
            print(f"{name:10} {doc[0] if doc else ''}")
        return 0
    if args.what == "envs":
        for name in ENV_FAMILIES:
            try:
                tasks = env_family(name).tasks()
            except ImportError as e:  # an optional stack missing: say so, keep listing
                print(f"{name}: unavailable ({e})")
                continue
            print(f"{name}: " + (", ".join(f"{name}:{t}" for t in tasks) if tasks else name))
    else:
        from rlgen.agents.base import fitting_agents, has_default_dataset
        from rlgen.registry import make_env_spec

        spec = make_env_spec(args.env, **_env_options(args)) if args.env else None
        names = fitting_agents(spec) if spec else list(AGENTS)
        for name in names:
            from rlgen.config import preset_meta

            cls = agent_class(name)
            doc = [preset_meta(name).get("description", "")] if "description" in preset_meta(name) \
                else (cls.__doc__ or cls.config_class.__doc__ or "").strip().splitlines()
            note = " (needs --dataset)" if spec and cls.kind == "offline" and \
                not has_default_dataset(spec) else ""
            print(f"{name:8} {cls.kind:8} {doc[0] if doc else ''}{note}")
        if spec and not names:
            print(f"no registered agent fits {spec.id}")
    return 0


def cmd_levels(args: argparse.Namespace) -> int:
    from rlgen.envs.procgen_levels import signatures
    from rlgen.registry import make_env_spec

    spec = make_env_spec(args.env, **{**_env_options(args), "exclude_duplicates": False})
    if spec.family != "procgen":
        raise ValueError("level signatures are defined for procgen:<game> specs")
    splits = spec.splits
    train, val, test = (list(splits[s].levels) for s in ("train", "val", "test"))
    sigs = signatures(spec.task, spec.options["distribution_mode"], train + val + test)
    train_sigs = {sigs[s] for s in train}
    ref = train_sigs | {sigs[s] for s in val}
    dup_train = [s for s in test if sigs[s] in train_sigs]
    dup_ref = [s for s in test if sigs[s] in ref]
    print(f"{spec.id} ({spec.options['distribution_mode']}): train {len(train)} levels, "
          f"{len(train_sigs)} distinct signatures ({len(train) - len(train_sigs)} repeats within train)")
    print(f"test candidates: {len(test)}; duplicate a train level: {len(dup_train)} "
          f"({100 * len(dup_train) / len(test):.1f}%); duplicate train or val: {len(dup_ref)}")
    print(f"default test split excludes them: {len(test) - len(dup_ref)} test levels remain")
    if dup_ref:
        print("excluded seeds:", ", ".join(map(str, dup_ref[:20])) + (" ..." if len(dup_ref) > 20 else ""))
    return 0


def cmd_meta_train(args: argparse.Namespace) -> int:
    from rlgen.meta import train as M

    if args.resume:
        run = M.resume_meta_train(args.resume, args.generations, progress=not args.quiet,
                                  backend=args.backend,
                                  options=_backend_options(args, M.saved_workers(args.resume)))
    else:
        if not args.env:
            raise ValueError("meta-train needs --env (or --resume RUN_DIR)")
        req = M.MetaTrainRequest(
            objective=args.objective, envs=tuple(args.env), horizon=args.horizon or "1M",
            population=args.population, generations=args.generations or 300, out=args.out,
            seed=args.seed, overrides=dict(parse_override(o) for o in args.set or []),
            es=dict(parse_override(o) for o in args.es or []), meta_split=args.meta_split,
            backend=args.backend or "local", workers=args.workers or 1,
            backend_options=_backend_options(args), batched=not args.sequential,
            device=args.device, progress=not args.quiet)
        run = M.meta_train(req)
    curve = M.fitness_curve(run)
    print(f"run directory: {run.path}")
    if curve:
        print(f"generation {int(curve[-1]['step'])}: fitness mean {curve[-1]['fitness/mean']:.3f}, "
              f"max {curve[-1]['fitness/max']:.3f}; objective: {run.path / 'objective.pt'}")
    return 0


def cmd_meta_test(args: argparse.Namespace) -> int:
    from rlgen.meta.test import meta_test

    extra = dict(parse_override(o) for o in args.extra or [])
    report = meta_test(args.run, tuple(b for b in args.baselines.split(",") if b), extra,
                       args.seeds, args.episodes, args.backend, _backend_options(args),
                       not args.quiet, args.split)
    print(report["table"])
    print("files: " + ", ".join(report["files"]))
    return 0


def _backend_options(args: argparse.Namespace, workers: int = 1):
    from rlgen.exec import BackendOptions

    return BackendOptions(workers=workers if args.workers is None else args.workers,
                          address=args.address,
                          slurm_executor=args.slurm_executor, partition=args.partition,
                          time_min=args.time, log_folder=args.slurm_folder)


def _add_backend_args(parser: argparse.ArgumentParser, workers_help: str,
                      default: str | None = "local", workers: int | None = 1) -> None:
    from rlgen.registry import BACKENDS

    parser.add_argument("--backend", default=default,
                        help="where jobs run: " + ", ".join(BACKENDS) + " (docs/sweeps.md)")
    parser.add_argument("--workers", type=int, default=workers, help=workers_help)
    parser.add_argument("--address", help="ray: join this cluster (e.g. auto, ray://head:10001) "
                        "instead of starting a local instance")
    parser.add_argument("--slurm-executor", default="slurm", choices=["slurm", "local"],
                        help="slurm: submit with sbatch, or run the arrays as local processes "
                        "(submitit's LocalExecutor)")
    parser.add_argument("--partition", help="slurm partition")
    parser.add_argument("--time", type=int, default=60, metavar="MINUTES",
                        help="slurm: time limit of one job")
    parser.add_argument("--slurm-folder", help="slurm: submitit's job folder (default OUT/slurm)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from rlgen.sweep.run import run_sweep
    from rlgen.sweep.spec import load_sweep

    options = _backend_options(args)
    sweep = load_sweep(args.sweep, args.variant)
    out = args.out or str(Path("runs") / "sweeps" / (sweep.name + (f"-{args.variant}" if args.variant else "")))
    options.log_folder = options.log_folder or str(Path(out) / "slurm")
    try:
        result = run_sweep(sweep, out, args.backend, options, args.retry_failed, not args.quiet)
    except KeyboardInterrupt:
        print(f"\nrlgen: interrupted; rerun the same command to resume the sweep in {out}",
              file=sys.stderr)
        return 130
    print(f"sweep {sweep.name}: {len(result.trials)} trials, {result.count('done')} done, "
          f"{result.count('failed')} failed ({result.skipped} skipped as already done or failed); "
          f"manifest: {Path(out) / 'manifest.json'}")
    for name, error in result.failed().items():
        print(f"failed: {name}: {error}")
    _print_sweep_report(out, Path(out) / "report.md")
    print(f"plots and a self-contained HTML page: rlgen report {out} --html report.html")
    if result.count("failed"):
        print("rerun with --retry-failed to retry the failed trials")
        return 1
    return 0


def cmd_calm_serve(args: argparse.Namespace) -> int:
    from rlgen.calm.serve import serve

    serve(args.model, args.port, parallel=args.parallel, n_ctx=args.ctx, threads=args.threads,
          ready=lambda line: print(line, flush=True))
    return 0


def cmd_calm_dataset(args: argparse.Namespace) -> int:
    from rlgen.calm.dataset import CalmDataset, build
    from rlgen.config import parse_count

    path = build(args.env, args.split, parse_count(args.transitions), args.out,
                 balanced=not args.unbalanced, seed=args.seed, noise=args.noise,
                 progress=not args.quiet)
    card = CalmDataset(path).card
    bins = ", ".join(f"{b} {n}" for b, n in card["bins"].items())
    print(f"{path}: {card['transitions']} transitions ({bins}) from {card['episodes_played']} "
          f"oracle episodes on {card['levels']} {card['env']} {card['split']} levels")
    short = {b: q for b, q in (card["quotas"] or {}).items() if card["bins"][b] < q}
    if short:
        print(f"note: fewer than asked in bins {sorted(short)} (the task rarely or never has them)")
    return 0


def _prompt_config(args: argparse.Namespace):
    from rlgen.calm.prompts import PromptConfig

    fields = ("role", "legend", "task", "subgoals", "instruction", "remark", "view")
    return PromptConfig(**{f: getattr(args, f) for f in fields if getattr(args, f) is not None})


def cmd_calm_annotate(args: argparse.Namespace) -> int:
    from rlgen.calm.annotate import annotate
    from rlgen.calm.score import format_score, score

    schema = {"on": True, "off": False}.get(args.schema)
    try:
        out = annotate(args.dataset, args.judge, args.out, limit=args.limit,
                       config=_prompt_config(args), batch=args.batch, progress=not args.quiet,
                       cache=args.cache, model=args.model, max_tokens=args.max_tokens,
                       schema=schema, concurrency=args.concurrency, threads=args.threads,
                       per_request=args.per_request)
    except KeyboardInterrupt:
        print(f"\nrlgen: interrupted; the answers so far are in "
              f"{args.cache or Path(args.out) / 'answers.jsonl'}: rerun the command to resume",
              file=sys.stderr)
        return 130
    print(f"annotations: {out}")
    print(format_score(score(out, bootstrap=args.bootstrap)))
    return 0


def cmd_calm_score(args: argparse.Namespace) -> int:
    import json

    from rlgen.calm.score import format_score, score

    s = score(args.annotation, bootstrap=args.bootstrap, seed=args.seed)
    print(format_score(s))
    if args.json:
        Path(args.json).write_text(json.dumps(s, indent=2) + "\n")
    return 0


def _add_calm_parsers(sub) -> None:
    calm = sub.add_parser("calm", help="CALM: an LLM judges subgoal completion (docs/calm.md)")
    calm_sub = calm.add_subparsers(dest="calm_command", required=True, parser_class=_Parser)
    sv = calm_sub.add_parser("serve", help="serve a GGUF judge model over OpenAI-compatible HTTP "
                             "on 127.0.0.1 (use it with --judge openai:http://127.0.0.1:PORT/v1)")
    sv.add_argument("--model", help="GGUF file (default: the bundled SmolLM2-135M-Instruct)")
    sv.add_argument("--port", type=int, required=True)
    sv.add_argument("--parallel", type=int, default=1, help="concurrent request slots")
    sv.add_argument("--ctx", type=int, default=4096, help="context tokens per slot")
    sv.add_argument("--threads", type=int, help="CPU threads (default: cores, at most 8)")
    sv.set_defaults(fn=cmd_calm_serve)

    ds = calm_sub.add_parser("dataset", help="transitions from oracle episodes with oracle labels")
    ds.add_argument("--env", required=True, help="a MiniHack spec, e.g. minihack:KeyRoom-S5")
    ds.add_argument("--split", default="train")
    ds.add_argument("--transitions", default="300")
    ds.add_argument("--out", required=True, help="new dataset folder")
    ds.add_argument("--unbalanced", action="store_true",
                    help="the natural rate instead of equal key / door / other bins")
    ds.add_argument("--noise", type=float, default=0.1, help="oracle's random-action rate")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--quiet", action="store_true")
    ds.set_defaults(fn=cmd_calm_dataset)

    an = calm_sub.add_parser("annotate", help="ask a judge about every transition of a dataset")
    an.add_argument("dataset")
    an.add_argument("--judge", required=True,
                    help="oracle, llamacpp[:GGUF], openai[:URL] or replay:ANSWERS.jsonl")
    an.add_argument("--out", required=True, help="annotation folder (reused to resume)")
    an.add_argument("--limit", type=int, help="annotate only the first N transitions")
    an.add_argument("--cache", help="answer cache (default OUT/answers.jsonl)")
    an.add_argument("--model", help="openai: model name (default: the server's first)")
    an.add_argument("--max-tokens", type=int)
    an.add_argument("--schema", choices=["on", "off"],
                    help="JSON-schema constrained answers (default: on for llamacpp, off for openai)")
    an.add_argument("--concurrency", type=int, help="concurrent requests (llamacpp: slots)")
    an.add_argument("--threads", type=int, help="llamacpp: CPU threads")
    an.add_argument("--batch", type=int, default=8, help="transitions per judge call")
    an.add_argument("--per-request", type=int,
                    help="language models: transitions asked about in one request (one prefix, "
                         "K transitions, K verdicts; needs --subgoals preset)")
    an.add_argument("--bootstrap", type=int, default=1000)
    from rlgen.calm.prompts import VARIANTS

    for name, table in VARIANTS.items():
        if name != "output":
            an.add_argument(f"--{name}", choices=list(table), help=f"prompt {name} block")
    an.add_argument("--view", choices=["tty", "crop"], help="rendering (default tty)")
    an.add_argument("--quiet", action="store_true")
    an.set_defaults(fn=cmd_calm_annotate)

    sc = calm_sub.add_parser("score", help="accuracy / precision / recall / F1 of an annotation")
    sc.add_argument("annotation")
    sc.add_argument("--bootstrap", type=int, default=1000)
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--json", help="also write the scores to this file")
    sc.set_defaults(fn=cmd_calm_score)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rlgen", description="Train on some levels, test on held-out ones.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train an agent, then evaluate it on its env's splits")
    t.add_argument("--agent", help="agent name (rlgen list agents)")
    t.add_argument("--env", help="env spec family:task (rlgen list envs)")
    t.add_argument("--distribution-mode", choices=["easy", "hard"], help="Procgen difficulty (default easy)")
    t.add_argument("--num-levels", type=int, help="Procgen train levels 0..N-1 (default 200)")
    t.add_argument("--env-opt", action="append", metavar="KEY=VALUE", help="other env option")
    t.add_argument("--steps", help="budget: env steps (online) or gradient steps (offline); 25M, 100k ...")
    t.add_argument("--dataset", help="dataset directory (offline agents); default: the env's default dataset")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--name", help="run name (default: agent-task-seed-time)")
    t.add_argument("--runs-root", default="runs")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, TOML literal")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--episodes", type=int, default=100, help="evaluation episodes per split")
    t.add_argument("--splits", help="comma-separated evaluation splits (default: every split the "
                   "env declares, e.g. train,val,test and BabyAI's test_instructions)")
    t.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(fn=cmd_train)

    c = sub.add_parser("collect", help="collect an offline dataset from a behaviour policy")
    c.add_argument("--recipe", help="a recipe file under datasets/ (or its name)")
    c.add_argument("--env", help="env spec family:task")
    c.add_argument("--policy", help="RUN_DIR, policy FILE.pt, bundled:<name>, random, or a "
                   "family's named policy (e.g. expert, oracle:0.2)")
    c.add_argument("--transitions", help="steps to save (default 100k; overrides a recipe's size)")
    c.add_argument("--split", default="train")
    c.add_argument("--out", help="dataset directory (default for recipes: the dataset cache)")
    c.add_argument("--num-envs", type=int, default=16)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", default="cpu")
    c.add_argument("--resume", action="store_true", help="continue an interrupted collection")
    c.add_argument("--distribution-mode", choices=["easy", "hard"])
    c.add_argument("--num-levels", type=int)
    c.add_argument("--env-opt", action="append", metavar="KEY=VALUE")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(fn=cmd_collect)

    d = sub.add_parser("dataset", help="inspect or export a dataset")
    d_sub = d.add_subparsers(dest="dataset_command", required=True, parser_class=_Parser)
    info = d_sub.add_parser("info", help="print the dataset card")
    info.add_argument("path")
    info.set_defaults(fn=cmd_dataset)
    exp = d_sub.add_parser("export", help="export to another format (d3rlpy: rlgen.data.export.to_d3rlpy)")
    exp.add_argument("path")
    exp.add_argument("--to", choices=["minari"], default="minari")
    exp.add_argument("--id", required=True, help="Minari dataset id, e.g. procgen/coinrun-expert-v0")
    exp.add_argument("--root", required=True, help="folder to hold Minari datasets")
    exp.set_defaults(fn=cmd_dataset)

    da = sub.add_parser("data", help="fetch an env's data files into the cache")
    da_sub = da.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fe = da_sub.add_parser("fetch", help="download (or unpack) files, checked by size and sha256, "
                           "into the cache (~/.cache/rlgen or $RLGEN_CACHE); reruns resume")
    fe.add_argument("family", help="env family, e.g. webshop")
    fe.add_argument("--size", default="1k", help="which file set (webshop: 1k, packaged; full, "
                    "downloaded); default 1k")
    fe.add_argument("--url-base", help="download NAME from URL_BASE/NAME instead (a mirror)")
    fe.add_argument("--quiet", action="store_true")
    fe.set_defaults(fn=cmd_data)

    e = sub.add_parser("evaluate", help="evaluate a run on listed levels of its splits")
    e.add_argument("run")
    e.add_argument("--splits", help="comma-separated (default: every split the env declares)")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--num-envs", type=int, default=None,
                   help="envs stepped together (default: the agent's own, 8 for most)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    r = sub.add_parser("report", help="markdown tables and plots across evaluated runs, or over a "
                       "sweep's folder grouped by its axes")
    r.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP_DIR")
    r.add_argument("--plot", help="per-run bar plot PNG; others are written beside it (default: "
                   "report.png, or SWEEP_DIR/report.png for a sweep)")
    r.add_argument("--out", help="also write the tables to this file")
    r.add_argument("--profile", help="performance-profile PNG of a run list (default: next to --plot, *-profile.png)")
    r.add_argument("--html", metavar="FILE", help="also write one self-contained HTML page (tables, "
                   "plots, sweep file, provenance)")
    r.set_defaults(fn=cmd_report)

    cp = sub.add_parser("compare", help="paired comparison of two runs on the levels both played")
    cp.add_argument("run_a", metavar="RUN_A")
    cp.add_argument("run_b", metavar="RUN_B")
    cp.add_argument("--splits", help="comma-separated (default: every split both runs evaluated)")
    cp.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    cp.set_defaults(fn=cmd_compare)

    ls = sub.add_parser("list", help="list registered envs, agents, objectives, wrappers or judges")
    ls.add_argument("what", choices=["envs", "agents", "objectives", "wrappers", "judges"])
    ls.add_argument("--env", help="list only the agents that can train on this env spec")
    ls.add_argument("--env-opt", action="append", metavar="KEY=VALUE", help="env option for --env")
    ls.set_defaults(fn=cmd_list)

    lv = sub.add_parser("levels", help="level tools")
    lv_sub = lv.add_subparsers(dest="levels_command", required=True, parser_class=_Parser)
    chk = lv_sub.add_parser("check", help="find test levels that duplicate train levels")
    chk.add_argument("env", help="procgen:<game>")
    chk.add_argument("--distribution-mode", choices=["easy", "hard"])
    chk.add_argument("--num-levels", type=int)
    chk.add_argument("--env-opt", action="append", metavar="KEY=VALUE")
    chk.set_defaults(fn=cmd_levels)

    mt = sub.add_parser("meta-train", help="meta-train a PPO objective (LPO, TA-LPO) by evolution strategies")
    mt.add_argument("--objective", default="talpo", help="a learnable objective (rlgen.registry.OBJECTIVES)")
    mt.add_argument("--env", action="append", help="meta-train env (repeat for several)")
    mt.add_argument("--horizon", help="env steps of each inner lifetime (1M, 200k ...)")
    mt.add_argument("--population", type=int, default=32, help="even (antithetic pairs)")
    mt.add_argument("--generations", type=int, help="ES generations (with --resume: continue to this many)")
    mt.add_argument("--out", help="run directory (default runs/<objective>-<env>-<time>)")
    mt.add_argument("--seed", type=int, default=0)
    mt.add_argument("--set", action="append", metavar="KEY=VALUE", help="inner PPO config override")
    mt.add_argument("--es", action="append", metavar="KEY=VALUE", help="ES setting (rlgen.meta.es.ESConfig)")
    mt.add_argument("--meta-split", default="meta-minatar", help="sweeps/<name>.toml with [meta_test]")
    _add_backend_args(mt, "a generation's lifetimes in this many chunks: local processes, CPUs "
                      "of the local Ray instance, Slurm jobs (default 1; with --resume: the run's)",
                      default=None, workers=None)
    mt.add_argument("--sequential", action="store_true",
                    help="train lifetimes one by one instead of as one batched population "
                         "(faster on a CPU with large per-agent batches)")
    mt.add_argument("--device", default="cpu", help="where the lifetimes train (cuda for the paper-sized variant)")
    mt.add_argument("--resume", metavar="RUN_DIR", help="continue the ES state of a meta-training run")
    mt.add_argument("--quiet", action="store_true")
    mt.set_defaults(fn=cmd_meta_train)

    mte = sub.add_parser("meta-test", help="train fresh agents with a discovered objective and baselines on held-out envs and horizons")
    mte.add_argument("run", help="a meta-training run directory")
    mte.add_argument("--baselines", default="ppo,dpo", help="comma-separated: ppo, dpo")
    mte.add_argument("--extra", action="append", metavar="LABEL=FILE", help="another saved objective, e.g. lpo=runs/lpo/objective.pt")
    mte.add_argument("--seeds", type=int, help="seeds per pair (default: the meta split's)")
    mte.add_argument("--episodes", type=int, help="test-level episodes per trained agent")
    mte.add_argument("--split", help="another meta split (sweeps/<name>.toml with [meta_test]) instead of "
                                     "the run's; results go to RUN/meta-test-<name>/")
    _add_backend_args(mte, "groups of lifetimes run at once: local processes, CPUs of the local "
                      "Ray instance, Slurm jobs")
    mte.add_argument("--quiet", action="store_true")
    mte.set_defaults(fn=cmd_meta_test)
    sw = sub.add_parser("sweep", help="run a sweep file's trials (sweeps/<name>.toml), resumably")
    sw.add_argument("sweep", metavar="FILE_OR_NAME", help="sweeps/<name>.toml or its name")
    sw.add_argument("--variant", help="a [variants.<name>] table of the file (e.g. cpu, paper)")
    _add_backend_args(sw, "local: worker processes; ray: CPUs of the local instance it starts; "
                      "slurm: array jobs at once")
    sw.add_argument("--out", help="sweep folder (default runs/sweeps/<name>[-<variant>])")
    sw.add_argument("--retry-failed", action="store_true", help="rerun trials that failed before")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(fn=cmd_sweep)
    _add_calm_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("\nrlgen: interrupted; the last checkpoint is kept (rlgen train --resume RUN_DIR)",
              file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"rlgen: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
