"""Recipes: named, versioned YAML files that fix everything needed to reproduce a score.

A recipe fixes the model (a native family and its config), the tokenizer, the optional
pretraining (``none``; ``self``: MLM on the task's own training sequences; ``genome``: MLM on a
genome, by default the bundled *Arabidopsis* chloroplast so that it runs offline), the fine-tuning
schedule (any :class:`~genolm.bench.finetune.FinetuneConfig` key: warm-up + cosine or one-cycle,
early stopping on validation, label smoothing, RC augmentation, test-time RC averaging) and the
time budget of one run (pretraining and fine-tuning together).  A recipe that lists ``members:``
(other recipes) and a time budget is an ensemble: the members are fitted in turn on the same
split, each within an equal share of the budget left, and their predicted probabilities averaged
(:mod:`genolm.bench.ensemble`).

The bundled recipes live beside this file (``*.yaml``, package data); ``genolm ls recipes`` lists
them.  ``genolm bench recipe:NAME --task T`` runs one as its own bench entry, scored beside the
baselines on the same splits (:func:`recipe_contenders`).  A YAML path works too:
``recipe:path/to/my.yaml``.

Training reuses genolm's loops: pretraining steps :class:`~genolm.train.pretrain.Pretrainer`
(no checkpoints: a run is minutes), fine-tuning is :class:`~genolm.bench.finetune.Finetuner`.
A run that reaches the budget stops there, keeps the best model by validation loss, and its
record's ``training`` block says ``stopped_by_budget: true``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from genolm.bench.ensemble import EnsembleEstimator
from genolm.bench.finetune import FinetuneConfig, Finetuner, Targets
from genolm.bench.records import Entry
from genolm.bench.runner import Contender
from genolm.errors import ConfigError, InputError
from genolm.progress import progress_bar
from genolm.registry import Registry, check_choice

ROOT = Path(__file__).parent
PREFIX = "recipe:"
CORPORA = ("none", "self", "genome")
#: audit checks whose WARN / FAIL on ``train/test`` means test sequences sit in the training split
OVERLAP_CHECKS = ("exact_duplicates", "near_duplicates")


@dataclass
class PretrainSpec:
    """The optional MLM pretraining of a recipe (the keys of its ``pretrain:`` section)."""

    corpus: str = "none"  # none | self | genome
    genome: str = "bundled:chloroplast"  # corpus: genome -- a FASTA / GenBank path or bundled:NAME
    steps: int = 200
    batch_size: int = 32
    window: int = 256  # bp; self-pretraining uses min(window, the shortest training sequence)
    lr: float = 2e-3
    warmup_steps: int = 20
    mlm_probability: float = 0.15
    max_budget_fraction: float = 0.5  # pretraining stops at this share of the run's budget

    def __post_init__(self):
        check_choice("pretrain corpus", self.corpus, CORPORA)
        if self.steps < 1 or self.batch_size < 1 or self.window < 8:
            raise ConfigError("pretrain steps and batch_size must be >= 1 and window >= 8")
        if not 0 < self.max_budget_fraction < 1:
            raise ConfigError(
                f"pretrain max_budget_fraction must be in (0, 1), got {self.max_budget_fraction}"
            )


@dataclass
class Recipe:
    """One recipe file.  ``pretrain`` holds :class:`PretrainSpec` keys, ``finetune``
    :class:`~genolm.bench.finetune.FinetuneConfig` keys (mode ``full`` or ``lora``)."""

    name: str
    version: int = 1
    description: str = ""
    #: start from this pretrained model (anything :func:`genolm.load` takes: ``genolm-tiny``, a
    #: folder, a catalogue name) instead of a fresh ``family`` model; its own architecture and
    #: tokenizer are used, so ``family`` / ``model`` / ``tokenizer`` / ``pretrain`` must stay unset
    init: str | None = None
    family: str = "convnova"
    model: dict = field(default_factory=dict)  # the family's config keys
    tokenizer: str = "char"
    pretrain: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)
    time_budget_minutes: float = 30.0  # one run (one task and seed): pretraining + fine-tuning
    #: an ensemble: these recipes (names or YAML paths), fitted in turn within the budget, their
    #: probabilities averaged; the model, tokenizer, pretraining and fine-tuning keys stay unset
    members: list = field(default_factory=list)

    def __post_init__(self):
        from genolm import config as C
        from genolm.models import MODELS

        where = f"recipe '{self.name}'"
        pairs = self._members(where) if self.members else []
        self.member_recipes = [m for m, _ in pairs]
        self.member_seed_offsets = [off for _, off in pairs]
        if self.init is not None and (self.model or self.pretrain.get("corpus", "none") != "none"):
            raise ConfigError(
                f"{where}: 'init: {self.init}' starts from that model's own architecture and weights; "
                "remove the 'model' keys and the pretraining corpus, or drop 'init'"
            )
        fam = MODELS.get(self.family)
        fam.make_config(**self.model)  # unknown model keys: "did you mean", now
        self.pretrain_spec = C.from_dict(PretrainSpec, self.pretrain, source=f"{where}: pretrain")
        self.finetune_config = C.from_dict(
            FinetuneConfig, {"mode": "full", **self.finetune}, source=f"{where}: finetune"
        )
        if self.finetune_config.mode == "probe":
            raise ConfigError(f"{where}: finetune mode must be full or lora (a recipe trains its model)")
        if self.pretrain_spec.corpus != "none" and fam.objective != "mlm":
            raise ConfigError(f"{where}: pretraining is MLM, but family '{self.family}' is {fam.objective}")
        if not self.time_budget_minutes > 0:
            raise ConfigError(
                f"{where}: time_budget_minutes must be positive, got {self.time_budget_minutes}"
            )

    def _members(self, where: str) -> list[tuple[Recipe, int]]:
        """Each member recipe, built, with its seed offset."""
        own = {
            "init": self.init is not None,
            "family": self.family != "convnova",
            "model": bool(self.model),
            "tokenizer": self.tokenizer != "char",
            "pretrain": bool(self.pretrain),
            "finetune": bool(self.finetune),
        }
        if any(own.values()):
            raise ConfigError(
                f"{where}: an ensemble lists members and a time budget only; move "
                f"{', '.join(k for k, v in own.items() if v)} into the member recipes"
            )
        if not isinstance(self.members, list):
            raise ConfigError(
                f"{where}: members is a list, e.g. members: [NAME, {{recipe: NAME, seed_offset: 1000}}], "
                f"got {self.members!r}"
            )
        if len(self.members) < 2:
            raise ConfigError(f"{where}: an ensemble needs at least two members, got {self.members}")
        out, refs = [], []
        for item in self.members:
            spec = _member_spec(item, where)
            refs.append(spec.recipe)
            path, data = _recipe_data(spec.recipe)  # an unknown member: "did you mean"
            if data.get("members"):  # read before it is built: a member listing itself cannot recurse
                raise ConfigError(
                    f"{where}: member {spec.recipe} is itself an ensemble; list its members instead"
                )
            out.append((_build(path, data), spec.seed_offset))
        what = [(*(repr(getattr(m, k)) for k in _TRAINED), off) for m, off in out]
        same = [refs[i] for i in range(len(out)) if what[i] in what[:i]]
        if same:
            free = max(off for _, off in out) + 1000
            raise ConfigError(
                f"{where}: member {same[0]} trains the same model as an earlier member (same seed, "
                "half the budget each): list each recipe once, or give the repeat its own seed "
                f"({{recipe: {same[0]}, seed_offset: {free}}})"
            )
        return out

    @property
    def member_names(self) -> list[str]:
        """Each member's name, ``+seedK`` appended where it trains with seed offset K."""
        return [
            member_label(m.name, off)
            for m, off in zip(self.member_recipes, self.member_seed_offsets, strict=True)
        ]

    @property
    def label(self) -> str:
        return f"recipe:{self.name}@v{self.version}"

    def to_dict(self) -> dict:
        """The recipe's keys (the run's ``config``, hashed into its run key); ``members`` only for
        an ensemble, so records of single recipes made before ensembles existed keep their keys."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not self.members:
            del out["members"]
        else:  # names, not paths (the key must not move with the checkout); key_extra has their keys
            out["members"] = [
                m.name if off == 0 else {"recipe": m.name, "seed_offset": off}
                for m, off in zip(self.member_recipes, self.member_seed_offsets, strict=True)
            ]
        return out


def _scan() -> Registry[Path]:
    reg: Registry[Path] = Registry("recipe")
    for p in sorted(ROOT.glob("*.yaml")):
        try:
            desc = (yaml.safe_load(p.read_text()) or {}).get("description", "")
        except yaml.YAMLError:
            desc = "(not valid YAML)"
        reg.add(p.stem, p, help=str(desc).strip().splitlines()[0] if desc else "")
    return reg


#: bundled recipe name -> its YAML file
RECIPES: Registry[Path] = _scan()


#: the keys that decide what a recipe trains (two members equal on all of them are one model)
_TRAINED = ("init", "family", "model", "tokenizer", "pretrain", "finetune")


def member_label(name: str, seed_offset: int) -> str:
    """How an ensemble member is named in messages and tables: ``NAME``, or ``NAME+seedK`` for a
    member trained with seed offset K."""
    return name if seed_offset == 0 else f"{name}+seed{seed_offset}"


@dataclass
class MemberSpec:
    """One ``members:`` entry written as a mapping: a recipe (name or YAML path) and the offset
    added to the run's seed for it, so that one recipe can be a member more than once (a seed
    ensemble: ``{recipe: cnn-small, seed_offset: 1000}``).  A plain name is offset 0."""

    recipe: str
    seed_offset: int = 0


def _member_spec(item, where: str) -> MemberSpec:
    from genolm import config as C

    if isinstance(item, dict):
        if "recipe" not in item:
            raise ConfigError(
                f"{where}: member {item} has no 'recipe' key; write {{recipe: NAME, seed_offset: K}}"
            )
        try:
            spec = C.from_dict(MemberSpec, item, source=f"{where}: member {item['recipe']}")
        except ConfigError as e:  # a wrong value's message does not say where it is: add that
            msg = str(e)
            raise ConfigError(
                msg if msg.startswith(where) else f"{where}: member {item['recipe']}: {msg}"
            ) from None
        if spec.seed_offset < 0:
            raise ConfigError(
                f"{where}: member {spec.recipe}: seed_offset must be a whole number >= 0, got {spec.seed_offset}"
            )
        return spec
    if isinstance(item, (str, Path)):
        return MemberSpec(str(item))
    raise ConfigError(
        f"{where}: a member is a recipe name, a YAML path or {{recipe: NAME, seed_offset: K}}, got {item!r}"
    )


def _recipe_data(ref: str | Path) -> tuple[Path, dict]:
    """The YAML file and mapping of a bundled name, ``recipe:NAME`` or a YAML path.  An ensemble's
    member paths are made relative to the ensemble's own file."""
    ref = str(ref).removeprefix(PREFIX)
    path = Path(ref)
    if not (ref.endswith((".yaml", ".yml")) and path.is_file()):
        path = RECIPES.get(ref)  # unknown: "Unknown recipe 'cnn-smal'. Did you mean 'cnn-small'?"
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; a recipe is a YAML file (docs/recipes.md)") from None
    if data is None:
        raise ConfigError(
            f"{path}: the recipe file is empty; write at least its model or members and a time budget "
            "(docs/recipes.md), or start from a bundled one (genolm ls recipes)"
        )
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of recipe keys at the top level")
    data.setdefault("name", path.stem)
    if isinstance(data.get("members"), list):
        data["members"] = [_beside(path, m) for m in data["members"]]
    return path, data


def _beside(path: Path, member):
    """A member's relative YAML path made relative to the ensemble's file ``path``."""
    if isinstance(member, dict) and isinstance(member.get("recipe"), str):
        return {**member, "recipe": _beside(path, member["recipe"])}
    m = str(member)
    if isinstance(member, (str, Path)) and m.endswith((".yaml", ".yml")) and not Path(m).is_absolute():
        return str(path.parent / m)
    return member


def _build(path: Path, data: dict) -> Recipe:
    """The recipe in file ``path``; a bad value's error names the file (a bad key's already does)."""
    from genolm import config as C

    try:
        return C.from_dict(Recipe, data, source=f"recipe {path}")
    except ConfigError as e:
        if str(path) in str(e):
            raise
        raise ConfigError(f"{path}: {e}") from None


def load_recipe(ref: str | Path) -> Recipe:
    """A :class:`Recipe` from a bundled name (``cnn-small``), ``recipe:NAME`` or a YAML path.

    An unknown name or key raises :class:`~genolm.errors.ConfigError` naming the nearest valid one.
    """
    return _build(*_recipe_data(ref))


# --- the estimator ----------------------------------------------------------------------------


class RecipeEstimator:
    """Pretrain (optionally) and fine-tune a recipe's model on one task: the bench's estimator
    interface (``fit(seqs, y, valid=...)``, ``predict_with_scores``).

    Learned attributes: ``finetuner_``, ``pretrain_`` (steps done, first / last loss, seconds,
    whether the budget stopped it), ``stopped_by_budget_``, ``wall_s_``, and ``n_params_`` /
    ``n_trainable_`` (the fine-tuned model's, for the run record).
    """

    def __init__(
        self,
        recipe: Recipe,
        task_type: str,
        *,
        seed: int = 0,
        budget_s: float | None = None,
        progress: bool = False,
    ):
        self.recipe = recipe
        self.task_type = task_type
        self.seed = seed
        self.budget_s = budget_s  # default: the recipe's time_budget_minutes
        self.progress = progress  # rate / ETA of pretraining and fine-tuning (plain lines in a log)

    @property
    def classes_(self):
        return self.finetuner_.classes_

    def _budget(self) -> float:
        return self.budget_s if self.budget_s is not None else 60.0 * self.recipe.time_budget_minutes

    def fit(self, seqs, y, *, valid=None, ids=None) -> RecipeEstimator:
        import numpy as np
        import torch

        from genolm.models import build_model
        from genolm.tokenizers.schemes import build_scheme, parse_scheme

        r, t0 = self.recipe, time.perf_counter()
        budget = self._budget()
        seqs = [str(s) for s in seqs]
        self.pretrain_ = {"corpus": r.pretrain_spec.corpus, "steps": 0}
        backbone, tok = None, None
        if r.pretrain_spec.corpus != "none":
            backbone, tok = self._pretrain(seqs, budget)
        if tok is None:
            _, name, kwargs = parse_scheme(r.tokenizer)
            tok = build_scheme(name, kwargs, train_files=[])
        lengths = np.array([len(s) for s in seqs])
        y_arr = list(y) if self.task_type == "token_classification" else np.asarray(y)
        n_out = Targets(self.task_type).fit(y_arr, lengths).n_out_
        head = (
            "token-classification" if self.task_type == "token_classification" else "sequence-classification"
        )
        torch.manual_seed(self.seed)
        if r.init is not None:  # a pretrained model with a fresh head, and its own tokenizer
            from genolm.catalogue.loader import load

            lm = load(r.init)
            model = lm.for_task(self.task_type, r.finetune_config.mode, num_labels=n_out, seed=self.seed)
            tok = lm.tokenizer
            self.init_ = {"model": r.init, "architecture": lm.architecture}
        else:
            model = build_model(r.family, head, tokenizer=tok, num_labels=n_out, **r.model)
        if self.task_type == "regression" or self.task_type == "multilabel":
            model.config.problem_type = (
                "regression" if self.task_type == "regression" else "multi_label_classification"
            )
        if backbone is not None:
            model.model.load_state_dict(backbone.model.state_dict())
        left = max(1.0, budget - (time.perf_counter() - t0))
        cfg = dataclasses.replace(r.finetune_config, time_budget_s=left, progress=self.progress)
        self.finetuner_ = Finetuner(model, tok, self.task_type, cfg, seed=self.seed).fit(
            seqs, y, valid=valid, ids=ids
        )
        self.n_params_ = self.finetuner_.n_params_
        self.n_trainable_ = self.finetuner_.n_trainable_
        self.stopped_by_budget_ = bool(
            self.finetuner_.stopped_by_budget_ or self.pretrain_.get("stopped_by_budget")
        )
        self.wall_s_ = time.perf_counter() - t0
        return self

    def _pretrain(self, seqs: list[str], budget: float):
        """MLM steps of :class:`~genolm.train.pretrain.Pretrainer` on the corpus; the trained model."""
        from genolm.data import resolve_path
        from genolm.train.pretrain import Pretrainer
        from genolm.train.pretrain_config import PretrainConfig

        r, spec = self.recipe, self.recipe.pretrain_spec
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="genolm-recipe-") as tmp:
            window = spec.window
            if spec.corpus == "self":
                corpus = Path(tmp) / "train.fa"
                corpus.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
                window = max(8, min(window, min(len(s) for s in seqs)))
                files = [str(corpus)]
            else:
                files = [str(resolve_path(spec.genome))]
            cfg = PretrainConfig(
                corpus=files,
                out_dir=str(Path(tmp) / "run"),
                model=r.family,
                model_config=dict(r.model),
                tokenizer=r.tokenizer,
                window=window,
                short_contigs="skip",
                valid_fraction=0.0,
                batch_size=spec.batch_size,
                max_steps=spec.steps,
                lr=spec.lr,
                warmup_steps=min(spec.warmup_steps, spec.steps - 1),
                mlm_probability=spec.mlm_probability,
                compile="false",
                seed=self.seed,
                progress=False,
            )
            pt = Pretrainer(cfg)
            losses, stopped = [], False
            bar = progress_bar(spec.steps, "recipe pretrain", unit="step", enabled=self.progress)
            while pt.step < spec.steps:
                if time.perf_counter() - t0 > spec.max_budget_fraction * budget:
                    stopped = True
                    break
                losses.append(pt.train_step()["loss"])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if bar is not None:
                bar.close()
            model = pt.acc.unwrap_model(pt.model).float().cpu()
            tok = pt.tok
        self.pretrain_ = {
            "corpus": spec.corpus,
            "source": "task train split" if spec.corpus == "self" else spec.genome,
            "steps": pt.step,
            "window": window,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "seconds": time.perf_counter() - t0,
            "stopped_by_budget": stopped,
        }
        return model, tok

    def predict_with_scores(self, seqs, *, ids=None):
        return self.finetuner_.predict_with_scores(seqs, ids=ids)

    def predict(self, seqs):
        return self.predict_with_scores(seqs).y_pred

    def info(self) -> dict:
        """The run record's ``training`` block."""
        ft = self.finetuner_
        return {
            "recipe": self.recipe.label,
            "family": self.recipe.family if self.recipe.init is None else None,
            "init": getattr(self, "init_", None),
            "pretrain": self.pretrain_,
            "history": ft.history_,
            "best_epoch": ft.best_epoch_,
            "length_buckets": getattr(ft, "length_buckets_", None),
            # the schedule's planned epochs, and each time the budget shrank them (budget_schedule fit)
            "schedule_plan": getattr(ft, "schedule_plan_", None),
            "last_block": getattr(ft, "last_block_", None),
            # sequences truncated / windowed per split under the recipe's long_input policy
            "long_input": getattr(ft, "long_input_", None),
            "precision": ft.precision_,
            "budget_s": self._budget(),
            "wall_s": self.wall_s_,
            "stopped_by_budget": self.stopped_by_budget_,
            "fit_timings": ft.timings_,
        }


# --- the bench contender ----------------------------------------------------------------------


def refuse_leaky_self_pretraining(recipe: Recipe, task, data) -> None:
    """Self-pretraining reads the training split; when the bench's leak audit found test sequences
    in it (an exact or near duplicate between train and test), refuse: MLM on train would then
    have seen the test sequences."""
    for member in recipe.member_recipes:
        refuse_leaky_self_pretraining(member, task, data)
    if recipe.pretrain_spec.corpus != "self":
        return
    bad = [
        f"{c.name} {c.splits} {c.status} ({c.message})"
        for c in data.audit.checks
        if c.name in OVERLAP_CHECKS and c.splits == "train/test" and c.status in ("WARN", "FAIL")
    ]
    if bad:
        raise InputError(
            f"task '{task.name}': recipe '{recipe.name}' pretrains on the training split, but the leak "
            f"audit found test sequences in it: {'; '.join(bad)}. Fix the splits (genolm resplit), or "
            "use a recipe without self-pretraining"
        )


def recipe_contenders(refs, *, budget_s: float | None = None, progress: bool = False) -> list[Contender]:
    """One bench :class:`~genolm.bench.runner.Contender` per ``recipe:NAME`` (or path) in ``refs``;
    ``progress`` shows each run's pretraining and fine-tuning rate and ETA."""
    out = []
    for ref in refs:
        recipe = load_recipe(ref)

        def build(task, seed, recipe=recipe):
            if recipe.members:
                return EnsembleEstimator(
                    [
                        (
                            name,
                            lambda share, m=m, off=off: RecipeEstimator(
                                m, task.task_type, seed=seed + off, budget_s=share, progress=progress
                            ),
                        )
                        for name, m, off in zip(
                            recipe.member_names,
                            recipe.member_recipes,
                            recipe.member_seed_offsets,
                            strict=True,
                        )
                    ],
                    task.task_type,
                    budget_s=budget_s if budget_s is not None else 60.0 * recipe.time_budget_minutes,
                )
            return RecipeEstimator(recipe, task.task_type, seed=seed, budget_s=budget_s, progress=progress)

        def info(est, recipe=recipe):
            if not recipe.members:
                return est.info()
            runs = [
                {**m.info(), "seed_offset": off}
                for m, off in zip(est.members_, recipe.member_seed_offsets, strict=True)
            ]
            return {
                "recipe": recipe.label,
                "family": "ensemble",
                # what the long-input policy did, as the first member that truncated or windowed says
                "long_input": next((r["long_input"] for r in runs if r.get("long_input")), None),
                "members": runs,
                "member_budget_s": est.shares_,
                "combine": "mean probability (regression: mean value)",
                "budget_s": est.budget_s,
                "wall_s": est.wall_s_,
                "stopped_by_budget": any(r["stopped_by_budget"] for r in runs),
            }

        def check(task, data, recipe=recipe):
            refuse_leaky_self_pretraining(recipe, task, data)

        out.append(
            Contender(
                entry=Entry(f"recipe:{recipe.name}", "model", "recipe", ref),
                build=build,
                config=recipe.to_dict(),
                info=info,
                # budget_schedule decides how a budgeted run anneals: a run recorded before it
                # existed (the fixed plan) refits instead of being reused as current
                key_extra={
                    "recipe_version": recipe.version,
                    "budget_s": budget_s,
                    "budget_schedule": recipe.finetune_config.budget_schedule,
                    **({"members": [m.to_dict() for m in recipe.member_recipes]} if recipe.members else {}),
                },
                check=check,
            )
        )
    return out


def is_recipe_ref(ref: str) -> bool:
    return str(ref).startswith(PREFIX)


__all__ = [
    "RECIPES",
    "MemberSpec",
    "PretrainSpec",
    "Recipe",
    "RecipeEstimator",
    "is_recipe_ref",
    "load_recipe",
    "member_label",
    "recipe_contenders",
    "refuse_leaky_self_pretraining",
]
