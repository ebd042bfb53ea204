"""The network: one shared MiniLM/BERT encoder, a head per attribute, a token-level span head,
and an off-topic branch that reads the comment together with its context.

The toxicity heads read the comment alone: ``[CLS] comment [SEP]`` through the encoder (a
frozen shared trunk of the base model's bottom layers, then ``topic_layers`` fine-tuned top
layers). The labelled toxicity data is almost all without context (CAT shows only 1.5% / 0.6%
positives with and without the parent).

``off_topic`` is a *cross-encoder*: ``[CLS] comment [SEP] parent [SEP] article [SEP]`` (token
type 1 after the comment; ``model.encoding.encode_pairs``) through the same frozen trunk and a
top of its own (``topic_layers``, initialised from the base model's top layers), then a small
head on the mean of the comment's and of the context's token states. Why, measured:

* the bi-encoder this replaced (release 1.1.0: cosine and element-wise features of mean-pooled
  embeddings of comment, article and parent) learned "little overlap with article and parent"
  from thread pairs. On the coalition thread (tests/fixtures, hand-labelled, never trained on)
  it ranked short replies about another commenter ("you need to work on the comprehension
  Tresus...lol") highest and the rambling NSA/biosensor comments near the bottom: off_topic
  ROC-AUC 0.40. A mean-pooled embedding cannot tell a generic dialogue reply (on topic anywhere)
  from specific content about something else, nor see a reply that opens on topic and drifts;
  attention across comment and context can;
* cost: the pair is one pass over about 1.5-2.5x the comment's tokens (``ContextLengths``:
  comment 128, parent 64, article 64 at most), only for comments sent with context; the
  comment's toxicity pass is unchanged. ``benchmarks/context_cost.py`` measures both;
* the trunk stays frozen (it is shared with the toxicity branch, so the off-topic branch can be
  trained or refitted, ``civility train-context-head``, without moving any toxicity score);
  the embeddings' token-type table, like the rest of the embeddings, is the base model's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import BertConfig, BertModel
from transformers.masking_utils import create_bidirectional_mask


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token states over the attention mask, as sentence-transformers does."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


class CivilityNetwork(nn.Module):
    """Encoder + per-attribute comment heads + span head + off-topic cross-encoder branch."""

    def __init__(
        self,
        encoder_config: BertConfig,
        *,
        comment_attributes: list[str],
        context_hidden: int = 256,
        dropout: float = 0.1,
        topic_layers: int = 0,
    ) -> None:
        super().__init__()
        hidden = encoder_config.hidden_size
        self.comment_attributes = list(comment_attributes)
        self.encoder = BertModel(encoder_config, add_pooling_layer=False)
        # The off-topic branch: its own copy of the top ``topic_layers`` layers on the shared,
        # frozen trunk. Without topic layers the whole encoder is shared and trained jointly.
        self.shared_layers = encoder_config.num_hidden_layers - topic_layers
        self.topic_layers = nn.ModuleList(
            copy.deepcopy(self.encoder.encoder.layer[self.shared_layers :]) if topic_layers else []
        )
        self.dropout = nn.Dropout(dropout)
        # one logit per attribute; row i of the weight is attribute i's head
        self.heads = nn.Linear(hidden, len(self.comment_attributes))
        self.span_head = nn.Linear(hidden, 1)
        # the mean token state of the comment and of its context
        self.context_head = nn.Sequential(
            nn.Linear(2 * hidden, context_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(context_hidden, 1),
        )

    def reset_topic_layers(self, encoder: BertModel) -> None:
        """The off-topic branch's layers from ``encoder``'s top layers (the base model's, when a
        branch starts)."""
        for own, layer in zip(self.topic_layers, encoder.encoder.layer[self.shared_layers :],
                              strict=True):
            own.load_state_dict(layer.state_dict())

    def frozen_modules(self) -> list[nn.Module]:
        """The embeddings and the shared trunk (none without topic layers)."""
        if not len(self.topic_layers):
            return []
        return [self.encoder.embeddings, *self.encoder.encoder.layer[: self.shared_layers]]

    def train(self, mode: bool = True) -> CivilityNetwork:
        """Frozen parts stay in eval mode (no dropout): the trunk seen in training is the one
        served."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def freeze_shared(self) -> None:
        """Freeze the embeddings and the shared trunk (training starts here)."""
        for module in self.frozen_modules():
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def branch_modules(self) -> list[nn.Module]:
        """The off-topic branch's own modules: its top layers and the context head."""
        return [*self.topic_layers, self.context_head]

    def branch_trainable(self) -> bool:
        return any(p.requires_grad for m in self.branch_modules() for p in m.parameters())

    def freeze_branch(self) -> None:
        """Freeze the off-topic branch too (training the toxicity side of a finished model):
        every off_topic score stays as it was."""
        if not len(self.topic_layers):
            raise ValueError("the off-topic branch shares every layer with the toxicity heads "
                             "(topic_layers: 0): it cannot stay as it is while they train")
        for module in self.branch_modules():
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers,
             token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.encoder.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        for layer in layers:
            hidden = layer(hidden, mask)
        return hidden

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states (B, T, H) of the comments through the trunk and the fine-tuned top."""
        return self._run(input_ids, attention_mask, self.encoder.encoder.layer)

    def context_logit(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                      attention_mask: torch.Tensor) -> torch.Tensor:
        """Off-topic logits (B,) of ``[CLS] comment [SEP] context`` sequences
        (``model.encoding.encode_pairs``; token type 1 marks the context)."""
        top = self.topic_layers if len(self.topic_layers) else \
            self.encoder.encoder.layer[self.shared_layers :]
        layers = [*self.encoder.encoder.layer[: self.shared_layers], *top]
        states = self._run(input_ids, attention_mask, layers, token_type_ids)
        present = attention_mask.bool()
        comment = mean_pool(states, present & (token_type_ids == 0)).float()
        context = mean_pool(states, present & (token_type_ids == 1)).float()
        return self.context_head(torch.cat([comment, context], dim=-1)).squeeze(-1)

    def comment_heads(
        self, states: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Attribute logits (B, A), span logits (B, T) and the pooled comment embedding."""
        pooled = mean_pool(states, attention_mask).float()
        return {
            "logits": self.heads(self.dropout(pooled)),
            "span_logits": self.span_head(self.dropout(states.float())).squeeze(-1),
            "pooled": pooled,
        }

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Score a batch of comments alone: ``logits``, ``span_logits``, ``pooled``
        (``context_logit`` scores them with their context)."""
        return self.comment_heads(self.encode(input_ids, attention_mask), attention_mask)
