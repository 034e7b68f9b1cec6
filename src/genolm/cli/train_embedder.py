"""``genolm train-embedder``: contrastive fine-tuning of any model on mined pairs."""

from __future__ import annotations

NAME = "train-embedder"
HELP = "train an embedder contrastively (InfoNCE, hard negatives, Matryoshka) on pairs from `db pairs`"
DESCRIPTION = """\
Fine-tune MODEL so that each anchor embeds closest to its positive: InfoNCE with in-batch
negatives plus the mined hard negatives, at --temperature; with --matryoshka 64,128,256 the loss
is summed over those prefix dimensions so truncated vectors stay useful.  PAIRS is a TSV from
`genolm db pairs` (anchor_seq, positive_seq, negative_seq).  Writes a model folder of the same
family (save_pretrained + genolm_embedder.json with the pooling) that `genolm db build
--embedder OUT` and `genolm bench OUT` use.  --model new:FAMILY (e.g. new:convnova, new:gpn)
trains a freshly initialised genolm family with the character tokenizer instead, configured by
--init-config (from scratch: a larger --lr such as 1e-3, --warmup-steps and --schedule cosine).
Pairs with groups (`db pairs --same-source`) never count an in-batch item of the anchor's own
group as a negative.  --augment N adds N random edits to every positive, freshly each step.
Checkpoints go to OUT/checkpoint every --save-every steps; running the same command again
resumes.  See docs/db.md."""
EXAMPLES = """
genolm db pairs genomes.db --mutations 5 --out pairs.tsv
genolm train-embedder pairs.tsv --model genolm-tiny --out my-embedder --epochs 2
genolm train-embedder pairs.tsv --model genolm-tiny --out my-embedder --matryoshka 64,128 --temperature 0.1
genolm db pairs genomes.db --same-source 2 --mutate-positives 50 --no-locus --out src-pairs.tsv
genolm train-embedder src-pairs.tsv --model new:convnova --init-config hidden_size=64,num_hidden_layers=3 --lr 1e-3 --warmup-steps 20 --schedule cosine --max-steps 300 --out conv-embedder
genolm db build --out genomes2.db genomes/*.fa --window 1000 --embedder my-embedder
"""


def add_arguments(p):
    from genolm.cli.common import nonnegative_int, positive_float, positive_int

    p.add_argument("pairs", help="pairs TSV from `genolm db pairs`")
    p.add_argument(
        "--model",
        required=True,
        help="the model to start from (catalogue name, folder, Hub id), or new:FAMILY for a fresh one",
    )
    p.add_argument(
        "--init-config",
        metavar="KEY=VALUE,...",
        help="config fields of a new:FAMILY model, e.g. hidden_size=128,num_hidden_layers=4",
    )
    p.add_argument("--out", required=True, help="the output model folder")
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument(
        "--batch-size", type=positive_int, default=32, help="pairs per step (in-batch negatives; default 32)"
    )
    p.add_argument("--lr", type=positive_float, default=5e-5)
    p.add_argument(
        "--schedule",
        default="constant",
        choices=["constant", "cosine"],
        help="lr after warmup (default constant)",
    )
    p.add_argument(
        "--warmup-steps", type=nonnegative_int, default=0, help="linear lr warmup steps (default 0)"
    )
    p.add_argument(
        "--augment", type=nonnegative_int, default=0, metavar="N", help="random edits per positive, each step"
    )
    p.add_argument("--temperature", type=positive_float, default=0.05)
    p.add_argument("--matryoshka", help="comma-separated prefix dimensions, e.g. 64,128,256")
    p.add_argument("--no-hard-negatives", dest="hard_negatives", action="store_false")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    p.add_argument(
        "--save-every", type=positive_int, default=200, help="checkpoint every N steps (default 200)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, ... (default: the best available)")


def run(args):
    import json

    from genolm.errors import ConfigError
    from genolm.train.contrastive import ContrastiveConfig, parse_init_config, train_embedder

    try:
        dims = [int(x) for x in args.matryoshka.split(",") if x.strip()] if args.matryoshka else []
    except ValueError:
        raise ConfigError(
            f"--matryoshka {args.matryoshka!r}: give comma-separated integers, e.g. 64,128"
        ) from None
    cfg = ContrastiveConfig(
        temperature=args.temperature,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        max_steps=args.max_steps,
        matryoshka=dims,
        hard_negatives=args.hard_negatives,
        pooling=args.pooling,
        save_every=args.save_every,
        seed=args.seed,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        augment=args.augment,
        progress=not getattr(args, "log_quiet", False),
    )
    init = parse_init_config(args.init_config)
    res = train_embedder(args.pairs, args.model, args.out, cfg, init_config=init, device=args.device)
    h = res.history
    print(
        json.dumps(
            {
                "out": str(res.folder),
                "steps": res.steps,
                "resumed_from": res.resumed_from,
                "first_loss": h[0]["loss"] if h else None,
                "last_loss": h[-1]["loss"] if h else None,
            },
            indent=2,
        )
    )
    return 0
