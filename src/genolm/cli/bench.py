"""``genolm bench``: benchmark models on tasks beside baselines, leak-audited and resumable."""

from __future__ import annotations

NAME = "bench"
HELP = "benchmark models on tasks beside k-mer / CNN / random-init baselines; leak-audited, resumable"
DESCRIPTION = """\
Fit every MODEL on every task in every mode (probe: frozen backbone + logistic regression on cached
embeddings; full: fine-tune everything; lora: PEFT adapters + head) and several seeds, beside
baselines on the same splits: k-mer logistic regression (ridge for regression), a one-hot CNN, and
the same architecture randomly initialised and fitted the same way.  The leak audit runs before
every task; a verdict reaching --fail-on stops that task from being scored.  Scores are the task's
primary metric (MCC, Spearman) with bootstrap 95% CIs, mean +/- SD over seeds, and a paired
bootstrap against the best baseline.  Every run is one JSON (+ predictions .npz) in --out, written
atomically; re-running the same command skips finished runs, so a killed bench resumes.  The
report (report.md, report.html) is written into --out; `genolm report DIR` rebuilds it.

With no MODEL: the bundled genolm-tiny on the bundled `mini` suite, offline, in under 5 minutes on
2 CPU cores.  The profile is `quick` unless --profile says otherwise, whether or not a MODEL is
named, and the bench prints it first: probe + full; 3 seeds for probes and baselines; full / lora
fine-tuning 2 epochs, 1 seed.  `--profile standard`: 3 seeds everywhere, up to 10 epochs with
early stopping.  Keys of a YAML --config are the fields of genolm.bench.runner.BenchConfig; its
nested sections (cnn, finetune, mode_seeds) are merged key by key into the profile's; flags
override the file.  Beside report.html: leaderboard.csv / .parquet and model-cards/<model>/README.md
(Hugging Face model-index); --update-model-card also merges them into each local model folder's
README.md."""
EXAMPLES = """
genolm bench
genolm bench runs/my-model/final --suite mini --modes probe,full,lora --seeds 3
genolm bench runs/a/final runs/b/final --task gue/prom_core_all --out bench-gue --epochs 5
genolm bench genolm-tiny --task my_task.yaml --fail-on never --no-baselines --long-input window
genolm bench recipe:cnn-small recipe:cnn-small-selfpt --task gue/prom_core_all --seeds 1
genolm bench recipe:ens-cnn-tiny-stranded --task gue/prom_300_tata --seeds 3
genolm bench runs/my-model/final --task my_task.yaml --max-length 512 --update-model-card
genolm report genolm-bench
"""


def add_arguments(p):
    import argparse

    from genolm.cli.common import positive_float, positive_int

    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="model folders, 'genolm-tiny', catalogue names (genolm ls models), Hub ids, or recipe:NAME "
        "(genolm ls recipes). Default: genolm-tiny",
    )
    p.add_argument("--suite", help="a suite name or YAML (genolm ls suites). Default: mini, when no --task")
    p.add_argument(
        "--task", dest="tasks", action="append", metavar="T", help="a task name or YAML; repeatable"
    )
    p.add_argument(
        "--modes",
        help="comma-separated: probe, full, lora, knn (cosine kNN on frozen embeddings). Default: probe,full",
    )
    p.add_argument(
        "--seeds", type=positive_int, help="seeds per model, mode and task (every mode). Default: 3"
    )
    p.add_argument("--out", dest="out_dir", metavar="DIR", help="results folder. Default: ./genolm-bench")
    p.add_argument(
        "--fail-on",
        choices=["fail", "warn", "never"],
        help="leak-audit verdict that stops a task from being scored. Default: fail",
    )
    p.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="k-mer and CNN baselines. Default: on",
    )
    p.add_argument(
        "--random-init",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the same architecture randomly initialised, fitted the same way. Default: on",
    )
    p.add_argument("--profile", choices=["quick", "standard"], help="default settings; see above")
    p.add_argument("--config", metavar="YAML", help="a BenchConfig YAML file (flags override it)")
    p.add_argument(
        "--epochs", type=positive_int, help="max epochs of full / lora fine-tuning (early stopping on valid)"
    )
    p.add_argument("--lr", type=positive_float, help="learning rate of full / lora fine-tuning")
    p.add_argument("--batch-size", type=positive_int, help="fine-tuning batch size. Default: 32")
    p.add_argument(
        "--long-input",
        choices=["error", "window", "truncate"],
        help="sequences longer than the model context: error (default), overlapping windows pooled, or truncate",
    )
    p.add_argument(
        "--max-length",
        type=positive_int,
        metavar="N",
        help="token budget per input (special tokens included) for every model, also those whose config "
        "names no maximum; longer inputs are truncated (or windowed with --long-input window). "
        "The report counts them. Default: each model's own maximum, none for convolutional families",
    )
    p.add_argument(
        "--probe", choices=["logreg", "mlp"], help="the probe on frozen embeddings. Default: logreg"
    )
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="Default: auto (bf16 where native)")
    p.add_argument(
        "--time-budget",
        type=positive_float,
        metavar="MIN",
        help="recipe:NAME models: minutes per run (overrides the recipe's)",
    )
    p.add_argument(
        "--threads", type=positive_int, help="torch CPU threads. Default: the idle cores, at least 1"
    )
    p.add_argument(
        "--n-boot", type=positive_int, help="bootstrap resamples for CIs and paired tests. Default: 1000"
    )
    p.add_argument(
        "--no-report", dest="report", action="store_false", default=None, help="skip report.md/html"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars (the per-run result lines stay)")
    p.add_argument(
        "--update-model-card",
        action="store_true",
        default=None,
        help="merge the results (model-index) into README.md of each MODEL given as a local folder "
        "(never a catalogue, bundled or Hub model)",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run Python code shipped in the model repository (DNABERT-2, NT v2, HyenaDNA): read it first",
    )


def run(args):
    import shlex
    import sys

    from genolm.bench.report import entry_flags
    from genolm.bench.runner import bench_config, run_bench

    ft = {
        k: v
        for k, v in {
            "max_epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "long_input": args.long_input or ("truncate" if args.max_length else None),
            "max_tokens": args.max_length,
            "probe": args.probe,
            "precision": args.precision,
        }.items()
        if v is not None
    }
    overrides = {
        "models": args.models or None,
        "tasks": args.tasks,
        "suite": args.suite,
        "modes": [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes else None,
        "seeds": args.seeds,
        "out_dir": args.out_dir,
        "fail_on": args.fail_on,
        "baselines": args.baselines,
        "random_init": args.random_init,
        "finetune": ft or None,
        "threads": args.threads,
        "n_boot": args.n_boot,
        "report": args.report,
        "progress": False if args.quiet else None,
        "messages": True,  # --quiet hides the bars, never the per-run result lines
        "trust_remote_code": True if args.trust_remote_code else None,
        "update_model_card": args.update_model_card,
    }
    cfg = bench_config(args.config, overrides, profile=args.profile)
    argv = getattr(args, "_argv", None)
    command = shlex.join(["genolm", *argv]) if argv is not None else None
    contenders = []
    if any(str(m).startswith("recipe:") for m in cfg.models):  # recipe:NAME runs as its own entry
        from genolm.bench.recipes import is_recipe_ref, recipe_contenders

        budget = args.time_budget * 60 if args.time_budget else None
        contenders = recipe_contenders(
            [m for m in cfg.models if is_recipe_ref(m)], budget_s=budget, progress=cfg.progress
        )
        cfg.models = [m for m in cfg.models if not is_recipe_ref(m)]
    result = run_bench(cfg, extra_contenders=contenders, meta={"command": command})
    out = result.out_dir
    for name, t in result.summary.get("tasks", {}).items():
        if t.get("status") == "refused":
            print(
                f"{name}: NOT SCORED, leak audit {t.get('audit')} (--fail-on {t.get('fail_on')}): {t.get('reason', '')}"
            )
            continue
        print(f"{name} ({t['metric']}, leak audit {t['audit']}):")
        for e in t["entries"]:
            label = e["name"] if e["kind"] == "baseline" else f"{e['name']} ({e['mode']}, {e['kind']})"
            sd = f" ± {e['sd']:.3f}" if e.get("sd") is not None else ""
            mean = "nan" if e["mean"] is None else f"{e['mean']:.3f}"
            flag = "" if e.get("audit") == "PASS" else f"   [leak audit {e.get('audit')}]"
            vb = e.get("vs_best_baseline")
            word = {"beats": "beats", "ties": "ties", "loses": "loses to"}.get((vb or {}).get("verdict"))
            vs = f"   {word} the best baseline ({vb['baseline']})" if word else ""
            warn = "; ".join(entry_flags(e))
            print(f"  {label:<44} {mean}{sd}{vs}{flag}" + (f"   [{warn}]" if warn else ""))
    print(f"ran {result.ran} runs, skipped {result.skipped} finished ones in {out}/")
    if cfg.report:
        print(f"report: {out / 'report.md'}  {out / 'report.html'}")
    if result.refused:
        names = ", ".join(f"{t} ({v})" for t, v in result.refused)
        print(f"genolm bench: leak audit stopped {names}; see {out}/runs/<task>/audit.json", file=sys.stderr)
        return 1
    return 0
