"""The network: one shared MiniLM/BERT encoder, a head per attribute, a token-level span head,
and a context head for ``off_topic``.

Why this shape (a bi-encoder for context rather than a cross-encoder that reads
``[CLS] comment [SEP] article [SEP] parent``):

* cost: a publishing system scores each comment inside ~200 ms. A cross-encoder pays for the
  article's tokens with every comment (a 256-token article makes each pass 3-4x longer, and
  attention is quadratic in length); a bi-encoder encodes the article once per article and the
  parent once per parent, both cached, so a comment costs one pass over its own tokens;
* signal: all-MiniLM-L6-v2 was trained as a sentence embedder for semantic similarity, so the
  cosine and element-wise interactions of mean-pooled embeddings carry topic drift directly;
* the toxicity heads read the comment alone: the labelled toxicity data is almost all without
  context (CAT shows only 1.5% / 0.6% positives with and without the parent), while the context
  head is trained on thread pairs and relevance data.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token states over the attention mask, as sentence-transformers does."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


class CivilityNetwork(nn.Module):
    """Encoder + per-attribute comment heads + span head + off-topic context head."""

    def __init__(
        self,
        encoder_config: BertConfig,
        *,
        comment_attributes: list[str],
        context_hidden: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        hidden = encoder_config.hidden_size
        self.comment_attributes = list(comment_attributes)
        self.encoder = BertModel(encoder_config, add_pooling_layer=False)
        self.dropout = nn.Dropout(dropout)
        # one logit per attribute; row i of the weight is attribute i's head
        self.heads = nn.Linear(hidden, len(self.comment_attributes))
        self.span_head = nn.Linear(hidden, 1)
        # per context kind (article, parent): c*x, |c-x|, cosine, present flag
        self.context_head = nn.Sequential(
            nn.Linear(2 * (2 * hidden + 2), context_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(context_hidden, 1),
        )

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return token states (B, T, H) and unit-length mean-pooled embeddings (B, H)."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = nn.functional.normalize(mean_pool(states, attention_mask).float(), dim=-1)
        return states, pooled

    def context_logit(
        self,
        comment: torch.Tensor,
        article: torch.Tensor | None,
        parent: torch.Tensor | None,
        *,
        has_article: torch.Tensor,
        has_parent: torch.Tensor,
    ) -> torch.Tensor:
        """Off-topic logit from unit comment/context embeddings; a missing context is zeroed."""
        parts = []
        for other, present in ((article, has_article), (parent, has_parent)):
            if other is None:
                other = torch.zeros_like(comment)
            flag = present.to(comment.dtype).unsqueeze(-1)
            other = other * flag
            cosine = (comment * other).sum(-1, keepdim=True)
            parts += [comment * other, (comment - other).abs() * flag, cosine, flag]
        return self.context_head(torch.cat(parts, dim=-1)).squeeze(-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        article: torch.Tensor | None = None,
        parent: torch.Tensor | None = None,
        has_article: torch.Tensor | None = None,
        has_parent: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Score a batch of comments; ``article``/``parent`` are precomputed unit embeddings."""
        states, pooled = self.embed(input_ids, attention_mask)
        features = self.dropout(pooled)
        out = {
            "logits": self.heads(features),
            "span_logits": self.span_head(self.dropout(states.float())).squeeze(-1),
            "pooled": pooled,
        }
        batch = input_ids.shape[0]
        if has_article is None:
            has_article = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        if has_parent is None:
            has_parent = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        out["context_logit"] = self.context_logit(
            pooled, article, parent, has_article=has_article, has_parent=has_parent
        )
        return out
