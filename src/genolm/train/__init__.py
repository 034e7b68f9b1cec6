"""Training: native pretraining from FASTA (:mod:`genolm.train.pretrain`) and fine-tuning."""
