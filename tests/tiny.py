"""A tiny randomly initialised BERT (hidden 32, 2 layers) and tokenizer, written by the tests:
no download, builds in well under a second."""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

WORDS = """you are an idiot stupid moron shut up the a is it this that not i we they he she
article comment reply agree disagree thanks good bad point war russia putin obama coalition
bomb terror syria nsa biosensor future jfk weather recipe cake football game great idea
read think wrong right because people country government police law vote election""".split()


def write_tiny_base(path: Path) -> Path:
    """Write a tiny BERT encoder + WordPiece tokenizer in Hugging Face format to ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = specials + chars + [f"##{c}" for c in chars] + WORDS
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    # transformers 5 takes the vocabulary as `vocab` (a `vocab_file=` keyword is silently
    # ignored, leaving a 5-token vocabulary where every word is [UNK])
    tokenizer = BertTokenizerFast(vocab=str(path / "vocab.txt"), do_lower_case=True)
    assert len(tokenizer) > len(specials), "tiny tokenizer lost its vocabulary"
    tokenizer.save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=512)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(path))
    return path
