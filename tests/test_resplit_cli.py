import json

import numpy as np
import pandas as pd

from genolm.alphabet import reverse_complement
from genolm.cli.main import main


def _random(n, L, rng):
    return ["".join(rng.choice(list("ACGT"), L)) for _ in range(n)]


def test_resplit_clean_removes_leaks_and_writes_a_manifest(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = _random(200, 80, rng)
    # the test set leaks 5 exact copies and 5 reverse complements of training sequences
    test = _random(40, 80, rng) + train[:5] + [reverse_complement(s) for s in train[5:10]]
    pd.DataFrame({"sequence": train, "label": rng.integers(0, 2, 200)}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"sequence": test, "label": rng.integers(0, 2, 50)}).to_csv(
        tmp_path / "test.csv", index=False
    )
    out = tmp_path / "clean"
    rc = main(
        [
            "resplit",
            "--train",
            str(tmp_path / "train.csv"),
            "--test",
            str(tmp_path / "test.csv"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    new_test = pd.read_csv(out / "test.csv")
    assert len(new_test) == 40 and not set(new_test["sequence"]) & set(train)
    manifest = json.loads((out / "resplit_manifest.json").read_text())
    assert "clean" in json.dumps(manifest)
    text = capsys.readouterr().out
    assert "test         50 ->       40" in text
