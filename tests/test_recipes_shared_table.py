"""The recipe table's pairings (benchmarks/recipes_shared.py) and the runner's member scores:
which recipe a pretraining recipe is paired with, in which direction, over which seeds, and what
an undefined member score does to the table."""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def rs():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("recipes_shared")
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("recipe:cnn-small-genomept-chr20", "recipe:cnn-small"),
        ("recipe:cnn-small-genomept-stranded-chr20", "recipe:cnn-small-stranded"),
        ("recipe:cnn-small-selfpt-stranded", "recipe:cnn-small-stranded"),
        ("recipe:cnn-small-rc-selfpt", "recipe:cnn-small-rc"),
        ("recipe:cnn-small-selfpt-stranded-first8k", "recipe:cnn-small-stranded-first8k"),
    ],
)
def test_a_pretraining_recipe_is_paired_with_its_base_on_common_seeds(rs, name, base):
    rng = np.random.default_rng(0)
    d0, d1 = rng.normal(0.6, 0.02, 1000), rng.normal(0.6, 0.02, 1000)
    seed_draws = {
        # the pretrained recipe is 0.05 better on seed 0; its seed 1 has no partner
        name: {0: (0.65, d0 + 0.05), 1: (0.10, d1 - 0.5)},
        base: {0: (0.60, d0), 2: (0.60, d1)},
        "recipe:cnn-small-genomept": {0: (0.9, d0)},  # not this name's base
    }
    v = rs._vs_no_pretraining(name, seed_draws)
    assert v["base"] == base and v["seeds"] == [0]
    assert v["difference"] == pytest.approx(0.05)
    assert 0.0 < v["low"] <= v["high"] and v["verdict"] == "beats"
    # the other way round it loses: the sign is pretrained minus base
    flipped = {name: {0: (0.55, d0 - 0.05)}, base: seed_draws[base]}
    assert rs._vs_no_pretraining(name, flipped)["verdict"] == "loses"


def test_recipes_without_self_or_genome_pretraining_are_not_paired(rs):
    d = {0: (0.6, np.zeros(10))}
    seed_draws = {n: d for n in ("recipe:cnn-small", "recipe:tiny-ft", "recipe:cnn-small-chr20")}
    seed_draws["recipe:cnn-small-genomept-chr20"] = {0: (None, np.zeros(10))}  # an undefined score
    seed_draws["recipe:cnn-small-rc-selfpt"] = d  # its base, cnn-small-rc, never ran
    for name in ("recipe:cnn-small", "recipe:tiny-ft", "recipe:cnn-small-chr20"):
        assert rs._vs_no_pretraining(name, seed_draws) is None
    # a base that never ran, or a seed whose score is undefined, leaves nothing to pair
    assert rs._vs_no_pretraining("recipe:cnn-small-rc-selfpt", seed_draws) is None
    assert rs._vs_no_pretraining("recipe:cnn-small-genomept-chr20", seed_draws) is None


def _member(recipe, estimate, diff):
    return {
        "recipe": recipe,
        "test": {"spearman": {"estimate": estimate, "low": None, "high": None}},
        "ensemble_minus_member": {"difference": diff, "low": None, "high": None, "p_value": None},
    }


def test_member_scores_match_members_by_recipe_and_skip_undefined_scores(rs):
    training = [
        {"members": [_member("recipe:a@v1", 0.5, 0.1), _member("recipe:b@v1", None, None)]},
        # another seed lists the members the other way round
        {"members": [_member("recipe:b@v1", 0.3, 0.2), _member("recipe:a@v1", 0.7, -0.1)]},
        {"recipe": "an older record without member scores"},
    ]
    a, b = rs._member_scores(training)
    assert (a["recipe"], a["n_seeds"], a["score"]) == ("recipe:a@v1", 2, pytest.approx(0.6))
    assert (b["recipe"], b["n_seeds"], b["score"]) == ("recipe:b@v1", 2, pytest.approx(0.3))
    assert [d["difference"] for d in a["ensemble_minus_member"]] == [0.1, -0.1]
    assert rs._sfmt(None) == rs._sfmt(math.nan) == "n/a" and rs._sfmt(0.0125) == "+0.013"
    assert rs._member_scores([{"members": []}, {}]) is None


def test_an_ensemble_is_paired_with_the_largest_ensemble_of_a_subset_of_its_members(rs):
    rng = np.random.default_rng(1)
    draws = {n: {0: (0.6 + 0.01 * i, rng.normal(0.6 + 0.01 * i, 0.02, 1000))} for i, n in enumerate("abcd")}
    records = {
        "a": {"config": {"members": ["x", "y", "z"]}},
        "b": {"config": {"members": ["x", "y"]}},
        "c": {"config": {"members": ["x"]}},  # smaller still: the larger subset wins
        "d": {"config": {"members": ["x", {"recipe": "x", "seed_offset": 1000}]}},
    }
    ens = {n: rs._ensemble_members(r) for n, r in records.items()}
    assert ens["d"] == frozenset({("x", 0), ("x", 1000)})
    assert rs._ensemble_members({"config": {"model": {}}}) is None
    v = rs._vs_smaller_ensemble("a", ens, draws)
    assert (v["base"], v["added"], v["seeds"]) == ("b", ["z"], [0])
    assert v["difference"] == pytest.approx(-0.01)
    # a seed ensemble's extra member is named with its offset; no subset: nothing to pair
    assert rs._vs_smaller_ensemble("d", ens, draws)["added"] == ["x+seed1000"]
    assert rs._vs_smaller_ensemble("c", ens, draws) is None
    assert rs._vs_smaller_ensemble("single", ens, draws) is None


def test_seed_ensemble_members_of_one_recipe_are_matched_by_seed_offset(rs):
    def member(off, estimate):
        return {**_member("recipe:a@v1", estimate, 0.0), "seed_offset": off}

    training = [
        {"members": [member(0, 0.50), member(1000, 0.60)]},
        {"members": [member(1000, 0.70), member(0, 0.40)]},
    ]
    first, second = rs._member_scores(training)
    assert (first["seed_offset"], first["n_seeds"], first["score"]) == (0, 2, pytest.approx(0.45))
    assert (second["seed_offset"], second["n_seeds"], second["score"]) == (1000, 2, pytest.approx(0.65))


def test_an_ensemble_member_with_an_undefined_score_is_recorded_as_such():
    # a regression member that predicts one constant has no Spearman: its block says so (NaN) and
    # the ensemble's paired difference against it is undefined, instead of the run failing
    from genolm.bench.baselines import Prediction
    from genolm.bench.runner import _Fitted, _score_members
    from genolm.bench.summary import metric_draws

    rng = np.random.default_rng(1)
    y = rng.normal(size=40)
    good = y + rng.normal(scale=0.5, size=40)
    members = [Prediction(good, good), Prediction(np.ones(40), np.ones(40))]
    ens = (good + 1.0) / 2
    training = {"members": [{"recipe": "recipe:a@v1"}, {"recipe": "recipe:b@v1"}]}
    fitted = _Fitted(Prediction(ens, ens), None, (0, 0), {}, training, members)
    data = SimpleNamespace(
        test=SimpleNamespace(labels=list(y), ids=[f"s{i}" for i in range(40)], sequences=None)
    )
    task = SimpleNamespace(task_type="regression", labels=None)
    arrays = {"y_true": y, "y_pred": ens, "y_score": ens}
    draws = metric_draws("regression", "spearman", arrays, None, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _score_members(fitted, task, data, 200, "spearman", draws, 0.8)
    a, b = training["members"]
    assert 0.5 < a["test"]["spearman"]["estimate"] <= 1.0
    assert a["ensemble_minus_member"]["difference"] == pytest.approx(0.8 - a["test"]["spearman"]["estimate"])
    assert math.isnan(b["test"]["spearman"]["estimate"])
    assert math.isnan(b["ensemble_minus_member"]["difference"])


def test_the_table_names_seed_offset_members_and_the_ensemble_pairing(rs, tmp_path):
    pair = {"base": "recipe:e2", "seeds": [0, 1], "difference": 0.003, "low": -0.004, "high": 0.01}
    members = [
        {"recipe": "recipe:c@v1", "seed_offset": off, "n_seeds": 1, "score": 0.6,
         "ensemble_minus_member": [{"difference": 0.01, "low": -0.01, "high": 0.03}]}
        for off in (0, 1000)
    ]  # fmt: skip
    row = {
        "name": "recipe:e3", "kind": "model", "score": 0.7, "ci": [0.68, 0.72], "seeds": [0, 1],
        "wall_s_per_run": [100.0, 110.0], "stopped_by_budget": [False, True], "vs_cnn": None,
        "members": members, "vs_no_pretraining": None,
        "vs_smaller_ensemble": {**pair, "added": ["t"], "verdict": "ties"},
    }  # fmt: skip
    task = {
        "goal": 0.69, "goal_source": "a paper", "metric": "mcc", "audit": "PASS", "shortcuts": [],
        "slug_note": "", "capped": None, "rows": [row], "genolm_tiny": {},
    }  # fmt: skip
    rs.write_md(tmp_path / "t.md", {"toy": task}, {"loadavg": [0.0, 0.0, 0.0]})
    md = (tmp_path / "t.md").read_text()
    assert "| recipe:e3 | 0.700 [0.680, 0.720] | 2 | 105 | 1/2 | - | met |" in md
    assert "members alone (the 1 of 2 seeds" in md and "c 0.600 (" in md and "c+seed1000 0.600 (" in md
    assert (
        "e3 minus e2 (the same ensemble without t; paired on seeds 0, 1): +0.003 [-0.004, +0.010] ties." in md
    )
