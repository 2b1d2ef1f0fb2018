#!/usr/bin/env python3
"""Hugging Face tokenizers' BpeTrainer on tests/data/bpe-trainer/corpus/ (ten of googletest
1.12.1's samples, from Debian's googletest package; each file one sequence), with the
pre-tokenizer, special tokens, vocabulary size and minimum frequency mnemo's trainer uses there (model/tokenizer/bpe_trainer.h); writes its tokenizer.json to
tests/data/bpe-trainer/hf-tokenizer.json for tests/unit/bpe_trainer_tests.cpp.

Needs PyPI's tokenizers (`pip install tokenizers==0.23.3`).
"""
from pathlib import Path

import tokenizers
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

DATA = Path(__file__).resolve().parent.parent / "data" / "bpe-trainer"
SPECIAL = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
           "<|fim_pad|>", "<|file_sep|>"]
VOCAB_SIZE, MIN_FREQUENCY = 1500, 2


def main() -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=MIN_FREQUENCY,
                                  special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = [p.read_text() for p in sorted((DATA / "corpus").iterdir())]
    tokenizer.train_from_iterator(texts, trainer)
    out = DATA / "hf-tokenizer.json"
    tokenizer.save(str(out))
    print(f"{out}: tokenizers {tokenizers.__version__}, vocab {tokenizer.get_vocab_size()}")


if __name__ == "__main__":
    main()
