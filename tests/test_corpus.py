import numpy as np
import pytest

from genolm.errors import InputError
from genolm.train.corpus import Contig, make_windows, window_text


def _contig(name, seq):
    return Contig(name, "mem.fa", np.frombuffer(seq.encode(), dtype=np.uint8))


def test_windows_and_region_holdout_do_not_overlap():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 1000))
    contigs = [_contig("c1", seq), _contig("c2", seq[::-1])]
    train, valid = make_windows(contigs, window=100, stride=50, valid_fraction=0.2)
    for ci in (0, 1):
        t_end = (train.start[train.contig == ci] + 100).max()
        v_start = valid.start[valid.contig == ci].min()
        assert t_end <= v_start  # no training window reaches into the held-out region
    assert len(window_text(contigs, train, 0)) == 100


def test_holdout_by_contig():
    contigs = [_contig("a", "ACGT" * 50), _contig("b", "GGCA" * 50)]
    train, valid = make_windows(contigs, window=50, stride=50, valid_contigs=["b"])
    assert set(train.contig.tolist()) == {0} and set(valid.contig.tolist()) == {1}
    with pytest.raises(InputError, match="Did you mean 'b'"):
        make_windows(contigs, window=50, stride=50, valid_contigs=["bb"])


def test_n_filtering_is_counted():
    contigs = [_contig("c", "ACGT" * 25 + "N" * 100 + "ACGT" * 25)]
    train, _ = make_windows(contigs, window=50, stride=50, valid_fraction=0.0)
    assert len(train) == 4 and train.n_dropped_n == 2  # 6 windows, the 2 inside the N run dropped


def test_short_and_all_n_contigs_error_or_skip():
    contigs = [_contig("long", "ACGT" * 100), _contig("tiny", "ACGT"), _contig("gap", "N" * 500)]
    # guards against silently training on nothing from contigs that cannot hold a window
    with pytest.raises(
        InputError, match=r"2 contig\(s\) cannot hold a single window: tiny .*gap .*entirely N"
    ):
        make_windows(contigs, window=100, stride=100)
    train, _ = make_windows(contigs, window=100, stride=100, short_contigs="skip", valid_fraction=0)
    assert train.skipped_contigs == ["tiny", "gap"] and len(train) == 4


def test_no_usable_windows():
    with pytest.raises(InputError, match="no usable training windows"):
        make_windows([_contig("c", "ACGN" * 50)], window=100, stride=100, max_n_frac=0.0)
