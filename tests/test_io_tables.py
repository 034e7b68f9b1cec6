"""Task tables (CSV / TSV / Parquet / JSONL) and one-FASTA-per-class folders."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from genolm.errors import InputError
from genolm.io import read_fasta_folder, read_task_table, write_fasta

ROWS = pd.DataFrame({"sequence": ["ACGT", "acgtn", "NA", "GGCC"], "label": [1, 0, 1, 0]})


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.csv.gz", "t.parquet", "t.jsonl", "t.jsonl.gz"])
def test_formats(tmp_path, name):
    p = tmp_path / name
    if ".csv" in name or ".tsv" in name:
        text = ROWS.to_csv(sep="\t" if ".tsv" in name else ",", index=False)
        p.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    elif name.endswith(".parquet"):
        ROWS.to_parquet(p)
    else:
        text = ROWS.to_json(orient="records", lines=True)
        p.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    df = read_task_table(p)
    assert df["sequence"].tolist() == ["ACGT", "acgtn", "NA", "GGCC"]  # 'NA' is a sequence, not missing
    assert df["label"].tolist() == [1, 0, 1, 0]


def test_gue_and_idna_layouts(tmp_path):
    (tmp_path / "gue.csv").write_text("sequence,label\nACGTAC,1\nTTGGCA,0\n")
    assert read_task_table(tmp_path / "gue.csv").shape == (2, 2)
    (tmp_path / "idna.tsv").write_text("index\tlabel\ttext\n0\t1\tACGT\n1\t0\tTTTT\n")
    df = read_task_table(tmp_path / "idna.tsv", sequence_col="text")
    assert df["text"].tolist() == ["ACGT", "TTTT"] and df["label"].tolist() == [1, 0]


def test_missing_column_did_you_mean(tmp_path):
    (tmp_path / "t.csv").write_text("sequence,labels\nACGT,1\n")
    # guards against a KeyError deep inside pandas
    with pytest.raises(InputError, match=r"t.csv: no label column 'label'. Did you mean 'labels'\?"):
        read_task_table(tmp_path / "t.csv")
    (tmp_path / "i.tsv").write_text("index\tlabel\ttext\n0\t1\tACGT\n")
    with pytest.raises(InputError, match=r"pass sequence_col='text'"):
        read_task_table(tmp_path / "i.tsv")


def test_empty_sequence_names_line(tmp_path):
    (tmp_path / "t.csv").write_text("sequence,label\nACGT,1\n,0\nAC,1\n")
    with pytest.raises(InputError, match=r"t.csv, line 3: empty sequence"):
        read_task_table(tmp_path / "t.csv")
    (tmp_path / "b.csv").write_text("sequence,label\nACGT,1\n\nAC,1\n")
    with pytest.raises(InputError, match=r"b.csv, line 3: empty sequence"):
        read_task_table(tmp_path / "b.csv")


def test_invalid_sequence_names_line_and_position(tmp_path):
    (tmp_path / "t.tsv").write_text("sequence\tlabel\nACGT\t1\nAC*T\t0\n")
    with pytest.raises(InputError, match=r"t.tsv, line 3, position 2: invalid character '\*'"):
        read_task_table(tmp_path / "t.tsv")
    assert read_task_table(tmp_path / "t.tsv", validate=False).shape == (2, 2)


def test_parquet_rows_and_missing_label(tmp_path):
    pd.DataFrame({"sequence": ["AC", "A1"], "label": [1, 0]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"t.parquet, record 'row 1', position 1"):
        read_task_table(tmp_path / "t.parquet")
    (tmp_path / "m.csv").write_text("sequence,label\nAC,1\nGT,\n")
    with pytest.raises(InputError, match=r"m.csv, line 3: missing label"):
        read_task_table(tmp_path / "m.csv")


def test_multilabel_unlabelled_and_whitespace(tmp_path):
    (tmp_path / "t.csv").write_text("sequence,a,b\n ACGT ,1,0\nGG,0,1\n\n\n")
    df = read_task_table(tmp_path / "t.csv", label_col=["a", "b"])
    assert df["sequence"].tolist() == ["ACGT", "GG"]  # stripped; trailing blank lines ignored
    assert read_task_table(tmp_path / "t.csv", label_col=None).shape == (2, 3)


def test_empty_and_unknown(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_task_table(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("sequence,label\n")
    with pytest.raises(InputError, match="no rows"):
        read_task_table(tmp_path / "h.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(InputError, match="unknown table format"):
        read_task_table(tmp_path / "x.xlsx")


def test_fasta_folder(tmp_path):
    write_fasta(tmp_path / "tata.fa", [("p1", "ACGT"), ("p2", "TTAA")])
    write_fasta(tmp_path / "non_prom.fasta.gz", [("n1", "GGGG")])
    (tmp_path / "README").write_text("not a fasta")
    ff = read_fasta_folder(tmp_path)
    assert ff.classes == ["non_prom", "tata"]
    assert ff.frame.to_dict("list") == {
        "name": ["n1", "p1", "p2"],
        "sequence": ["GGGG", "ACGT", "TTAA"],
        "label": ["non_prom", "tata", "tata"],
        "label_id": [0, 1, 1],
    }
    assert read_fasta_folder(tmp_path, pattern="tata*").classes == ["tata"]
    with pytest.raises(InputError, match="no FASTA files matching 'x\\*'.*README"):
        read_fasta_folder(tmp_path, pattern="x*")


def test_fasta_folder_same_class_twice(tmp_path):
    write_fasta(tmp_path / "a.fa", [("p1", "ACGT")])
    write_fasta(tmp_path / "a.fa.gz", [("p1", "ACGT")])
    with pytest.raises(InputError, match="two files give the class 'a'"):
        read_fasta_folder(tmp_path)
