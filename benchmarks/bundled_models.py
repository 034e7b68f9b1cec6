"""The two bundled models side by side: genolm-tiny against genolm-tiny-mix (issue #18, deliverable 3).

Both have the same architecture (gpn, hidden 96, 12 layers, 1.12M parameters, char tokens); they
differ only in pretraining: genolm-tiny saw 400 steps on phage lambda and the *Arabidopsis*
chloroplast (200 kb), genolm-tiny-mix about 60 minutes on a multi-species mix
(``configs/genolm-tiny-mix.yaml``).

Per genome of the mix, the last 1 % of every contig is held out from both (genolm-tiny held out
the last 5 % of its two genomes; genolm-tiny-mix the last 1 % of every contig): the masked-LM
loss and per-nucleotide accuracy of each model on the same masked positions of the same windows
(genolm's pretraining evaluation: 15 % masking, seeded per window, no RC augmentation), on at
most ``--windows`` 256-bp windows per genome.

The fine-tuning side (the same recipe from either model) is in ``recipes_shared.md``
(``tiny-ft-stranded`` against ``tiny-mix-ft-stranded``).

Run: python benchmarks/bundled_models.py   (about 2 minutes; needs ../shared/data)
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    sys.path.append(sys.path.pop(0))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from _common import RESULTS, ROOT, write_result  # noqa: E402

MODELS = ("genolm-tiny", "genolm-tiny-mix")


def held_out(corpus_file: str, windows: int, tmp: Path) -> dict:
    """MLM loss / accuracy of each bundled model on the last 1 % of ``corpus_file``'s contigs:
    the genome is read and windowed once, then each model's weights are evaluated on it."""
    import torch
    from transformers import AutoModelForMaskedLM

    import genolm.models  # noqa: F401  (registers the genolm families with the Auto classes)
    from genolm.data import model_path
    from genolm.train.pretrain import Pretrainer
    from genolm.train.pretrain_config import PretrainConfig

    folders = {name: model_path(name) for name in MODELS}
    vocabs = {(f / "vocab.txt").read_text() for f in folders.values()}
    assert len(vocabs) == 1, "the bundled models must share one tokenizer to share the windows"
    first = folders[MODELS[0]]
    spec = yaml.safe_load((first / "pretrain.yaml").read_text())
    cfg = PretrainConfig(
        corpus=[corpus_file],
        out_dir=str(tmp / Path(corpus_file).name),
        model=spec["model"],
        model_config=spec["model_config"],
        tokenizer=str(first),  # the models' own saved tokenizer
        window=256,
        stride=256,
        short_contigs="skip",
        valid_fraction=0.01,
        rc_augment=False,
        softmask_weight=spec.get("softmask_weight", 0.1),
        batch_size=32,
        max_steps=1,
        compile="false",
        precision="fp32",
        eval_batches=max(1, windows // 32),
        seed=0,
        progress=False,
    )
    pt = Pretrainer(cfg)
    net = pt.acc.unwrap_model(pt.model)
    n = min(len(pt.valid_w), cfg.eval_batches * 32)
    out = {}
    for name, folder in folders.items():
        net.load_state_dict(AutoModelForMaskedLM.from_pretrained(folder).state_dict())
        t0 = time.perf_counter()
        with torch.inference_mode():
            rec = pt.evaluate()
        out[name] = {
            "valid_loss": rec["valid_loss"],
            "valid_nt_acc": rec["valid_nt_acc"],
            "windows": int(n),
            "seconds": time.perf_counter() - t0,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=512, help="held-out 256-bp windows per genome (at most)")
    args = ap.parse_args(argv)
    from genolm.data import resolve_path

    mix = yaml.safe_load((ROOT / "configs" / "genolm-tiny-mix.yaml").read_text())
    rows = []
    with tempfile.TemporaryDirectory(prefix="genolm-bundled-") as tmp:
        for spec in mix["corpus"]:
            path = str(resolve_path(spec if spec.startswith("bundled:") else ROOT / spec))
            row = {"genome": Path(path).name.split(".")[0], "in_genolm_tiny": spec.startswith("bundled:")}
            row.update(held_out(path, args.windows, Path(tmp)))
            row["delta_loss"] = row["genolm-tiny-mix"]["valid_loss"] - row["genolm-tiny"]["valid_loss"]
            row["delta_acc"] = row["genolm-tiny-mix"]["valid_nt_acc"] - row["genolm-tiny"]["valid_nt_acc"]
            print(
                f"{row['genome']}: loss {row['genolm-tiny']['valid_loss']:.3f} -> "
                f"{row['genolm-tiny-mix']['valid_loss']:.3f}, nt acc {row['genolm-tiny']['valid_nt_acc']:.3f} -> "
                f"{row['genolm-tiny-mix']['valid_nt_acc']:.3f}",
                flush=True,
            )
            rows.append(row)
    lines = [
        "# The bundled models on held-out windows (masked-LM, last 1 % of every contig)",
        "",
        "Script: `benchmarks/bundled_models.py`. Same architecture (1.12M parameters); genolm-tiny: "
        "400 steps on lambda + chloroplast; genolm-tiny-mix: about 60 minutes on the mix "
        "(`configs/genolm-tiny-mix.yaml`). Lower loss and higher accuracy are better; chance accuracy "
        "is 0.25.",
        "",
        "| genome | in genolm-tiny's corpus | windows | loss tiny | loss tiny-mix | nt acc tiny | nt acc tiny-mix |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r["genolm-tiny"], r["genolm-tiny-mix"]
        lines.append(
            f"| {r['genome']} | {'yes' if r['in_genolm_tiny'] else 'no'} | {a['windows']} | {a['valid_loss']:.3f} | "
            f"{b['valid_loss']:.3f} | {a['valid_nt_acc']:.3f} | {b['valid_nt_acc']:.3f} |"
        )
    (RESULTS / "bundled_models.md").write_text("\n".join(lines) + "\n")
    write_result("bundled_models", {"windows_per_genome": args.windows, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
