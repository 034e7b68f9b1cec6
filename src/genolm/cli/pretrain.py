"""``genolm pretrain``: pretrain a native model from FASTA/GenBank."""

from __future__ import annotations

NAME = "pretrain"
HELP = "pretrain a native model (encoder, gpn, hyena, decoder) on FASTA/GenBank; resumable"
DESCRIPTION = """\
Pretrain a genolm model family on one or many FASTA/GenBank files with MLM or CLM.
Settings come from CONFIG.yaml (keys are the flags below without '--'); flags override
the file.  Checkpoints (safetensors, optimizer, RNG and data position) are written
atomically every --save-every steps; after a crash or kill, --resume continues exactly.
Runs on a CPU, a GPU, or many through `accelerate launch` / `torchrun`."""
EXAMPLES = """
genolm pretrain --corpus "$(python -c 'from genolm.data import genome_path; print(genome_path())')" --max-steps 20 --out runs/demo
genolm pretrain config.yaml --max-steps 5000 --resume
accelerate launch --num_processes 2 -m genolm.cli.main pretrain config.yaml
"""


def add_arguments(p):
    from genolm.cli.common import add_dataclass_arguments
    from genolm.train.pretrain_config import PretrainConfig

    p.add_argument("config", nargs="?", help="YAML config file (optional when flags give the corpus)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in out_dir")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="delete what out_dir holds first (a non-empty out_dir is refused without --resume or --overwrite)",
    )
    add_dataclass_arguments(p, PretrainConfig)


def run(args):
    import json

    from genolm import config as C
    from genolm.cli.common import dataclass_overrides, end_distributed
    from genolm.train.pretrain import PretrainConfig, pretrain

    cfg = C.load(PretrainConfig, args.config, dataclass_overrides(args, PretrainConfig))
    try:
        result = pretrain(cfg, resume=args.resume, overwrite=args.overwrite)
    finally:
        end_distributed()
    print(json.dumps(result, indent=2))
    return 0
