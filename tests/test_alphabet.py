import numpy as np
import pytest

from genolm import alphabet as A
from genolm.errors import InputError
from genolm.registry import Registry, UnknownNameError


@pytest.mark.parametrize("seq", ["ACGT", "AACCGGTTN", "acgtNNRYSWKMBDHV", "ryswkmbdhv", "", "GATTACAgattaca"])
def test_reverse_complement_is_an_involution(seq):
    assert A.reverse_complement(A.reverse_complement(seq)) == seq


def test_reverse_complement_iupac_and_case():
    # R (A/G) pairs with Y (C/T); K (G/T) with M (A/C); B with V; D with H; S, W, N self-pair.
    assert A.reverse_complement("ARYKMBVDHSWN") == "NWSDHBVKMRYT"
    assert A.reverse_complement("ACgt") == "acGT"  # soft mask follows the base


def test_rna_round_trip():
    assert A.to_rna("ACGTacgt") == "ACGUacgu"
    assert A.to_dna(A.to_rna("GATTACA")) == "GATTACA"
    assert A.reverse_complement("ACGU") == "ACGU"  # RNA stays RNA: A pairs with U


def test_soft_mask_is_kept():
    up, mask = A.split_soft_mask("ACgtN")
    assert up == "ACGTN"
    assert mask.tolist() == [False, False, True, True, False]
    assert A.apply_soft_mask(up, mask) == "ACgtN"


def test_representations_round_trip():
    s = "ACGTNACGT"
    idx = A.string_to_index(s)
    assert idx.dtype == np.uint8 and idx.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    oh = A.index_to_one_hot(idx)
    assert oh.shape == (4, 9) and oh[:, 4].sum() == 0  # N is an all-zero column
    assert A.one_hot_to_string(oh) == s
    assert A.convert(A.convert(s, "one_hot"), "string") == s


def test_rc_commutes_with_representations():
    s = "ACGTTGCAN"
    idx = A.string_to_index(s)
    assert A.index_to_string(A.reverse_complement_index(idx)) == A.reverse_complement(s)
    oh = A.string_to_one_hot(s)
    assert A.one_hot_to_string(A.reverse_complement_one_hot(oh)) == A.reverse_complement(s)


def test_validate_names_file_record_position():
    # guards against silently accepting '*' or digits inside a sequence
    with pytest.raises(InputError, match=r"g\.fa, record 'chr1', position 5: invalid character '\*'"):
        A.validate("ACGTA*CG", path="g.fa", record="chr1")
    with pytest.raises(InputError, match="position 12"):
        A.validate("ACG1", record="r", offset=9)
    assert A.validate("ACGTRYN") == "ACGTRYN"
    with pytest.raises(InputError, match="invalid character 'R'"):
        A.validate("ACGR", "dna")
    # the byte fast path (every Genome.fetch runs it) must catch what the regex catches
    with pytest.raises(InputError, match="position 3: invalid character 'é'"):
        A.validate("ACGéT", record="r")
    for bad in (" ", "-", "\n", "\x00", "*"):
        with pytest.raises(InputError, match="position 2"):
            A.validate("AC" + bad + "GT", record="r")
    assert A.validate("") == "" and A.validate("acgtuRYn") == "acgtuRYn"
    assert A.validate("ACGX", "ACGX") == "ACGX"  # an alphabet given as its characters


def test_ambiguity_policy():
    assert A.apply_ambiguity_policy("ACRyN", "keep") == "ACRyN"
    assert A.apply_ambiguity_policy("ACRyN", "to_n") == "ACNnN"
    assert A.apply_ambiguity_policy("ACRT", "drop") is None
    assert A.apply_ambiguity_policy("ACGT", "drop") == "ACGT"
    with pytest.raises(ValueError):
        A.apply_ambiguity_policy("ACGT", "ignore")


def test_registry_did_you_mean():
    r = Registry("model")
    r.add("hyena", object, aliases=("hyenadna",))
    r.add("encoder", object)
    assert r.get("hyenadna") is object
    with pytest.raises(UnknownNameError, match="Unknown model 'hyna'. Did you mean 'hyena'"):
        r.get("hyna")
    with pytest.raises(ValueError, match="registered twice"):
        r.add("hyena", object)


def test_gc_content():
    assert A.gc_content("GGCCAATT") == 0.5
    assert A.gc_content("NNNN") == 0.0


def test_bundled_genomes_exist():
    from genolm.data import bundled_genomes, genome_path

    for p in bundled_genomes().values():
        assert p.exists() and p.stat().st_size > 10_000
    with pytest.raises(UnknownNameError, match="Did you mean 'lambda'"):
        genome_path("lamda")
