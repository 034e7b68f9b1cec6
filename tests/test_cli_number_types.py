"""The shared argparse number types: a bad value names the option and what it must be."""

import argparse

import pytest

from genolm.cli.common import nonnegative_int, positive_float, positive_int, unit_interval


def _parser():
    p = argparse.ArgumentParser(prog="genolm x")
    p.add_argument("--n", type=positive_int)
    p.add_argument("--flank", type=nonnegative_int)
    p.add_argument("--budget", type=positive_float)
    p.add_argument("--frac", type=unit_interval)
    return p


def test_good_values_parse():
    a = _parser().parse_args(["--n", "3", "--flank", "0", "--budget", "0.5", "--frac", "1"])
    assert (a.n, a.flank, a.budget, a.frac) == (3, 0, 0.5, 1.0)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--n", "0"], "--n: must be an integer >= 1, got 0"),
        (["--n", "abc"], "--n: expected an integer >= 1, got 'abc'"),
        (["--flank", "-2"], "--flank: must be an integer >= 0, got -2"),
        (["--budget", "-1"], "--budget: must be a number > 0, got -1"),
        (["--budget", "nan"], "--budget: must be a number > 0, got nan"),
        (["--frac", "3"], "--frac: must be a number in [0, 1], got 3"),
    ],
)
def test_bad_values_name_the_option(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    assert e.value.code == 2
    assert says in capsys.readouterr().err
