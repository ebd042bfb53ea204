"""The network: one shared MiniLM/BERT encoder, a head per attribute, a token-level span head,
and a context head for ``off_topic``.

Why this shape (a bi-encoder for context rather than a cross-encoder that reads
``[CLS] comment [SEP] article [SEP] parent``):

* cost: a publishing system scores each comment inside ~200 ms. A cross-encoder pays for the
  article's tokens with every comment (a 256-token article makes each pass 3-4x longer, and
  attention is quadratic in length); a bi-encoder encodes the article once per article and the
  parent once per parent, both cached, so a comment costs one pass over its own tokens;
* signal: all-MiniLM-L6-v2 was trained as a sentence embedder for semantic similarity, so the
  cosine and element-wise interactions of mean-pooled embeddings carry topic drift directly.
  Measured: on validation off-topic pairs the base model's comment/context cosine alone gives
  ROC-AUC 0.82 (CMV), 0.81 (SemEval 2016), 0.70 (Wikipedia threads); after 500 steps of joint
  fine-tuning of the whole encoder for toxicity it fell to 0.60 / 0.67 / 0.55, and the context
  head, reading that drifting space, reached only 0.60 / 0.65 / 0.57. Hence the split top: the
  embeddings and bottom layers are a shared, frozen trunk; the top ``topic_layers`` layers are
  fine-tuned for the toxicity heads and spans, and a frozen copy of the base's top layers gives
  the topic embedding. A comment costs the trunk once plus both tops (with 3 of 6 layers in
  each top, 1.5x one encoder pass; ``benchmarks/context_cost.py`` measures it against a
  cross-encoder reading comment + article + parent);
* the topic branch starts as that frozen copy and stays frozen in the joint run;
  ``civility train-context-head`` may then fine-tune it with the context head on the off-topic
  pairs alone (``training/context_head.py``), which leaves every toxicity output unchanged;
* the toxicity heads read the comment alone: the labelled toxicity data is almost all without
  context (CAT shows only 1.5% / 0.6% positives with and without the parent), while the context
  head is trained on thread pairs and relevance data.
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
    """Encoder + per-attribute comment heads + span head + off-topic context head."""

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
        # The topic branch: a frozen copy of the base encoder's top ``topic_layers`` layers on the
        # shared (frozen) trunk. Fine-tuning for toxicity was measured to wreck the base model's
        # semantic geometry that off-topic scoring relies on (see the module docstring).
        self.shared_layers = encoder_config.num_hidden_layers - topic_layers
        self.topic_layers = nn.ModuleList(
            copy.deepcopy(self.encoder.encoder.layer[self.shared_layers :]) if topic_layers else []
        )
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

    def frozen_modules(self) -> list[nn.Module]:
        """The embeddings, the shared trunk and the topic branch (none without topic layers)."""
        if not len(self.topic_layers):
            return []
        return [self.encoder.embeddings, *self.encoder.encoder.layer[: self.shared_layers],
                *self.topic_layers]

    def train(self, mode: bool = True) -> CivilityNetwork:
        """Frozen parts stay in eval mode (no dropout), so the topic embeddings seen in training
        are the ones served."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def freeze_shared(self) -> None:
        """Freeze the embeddings, the shared trunk and the topic branch (training starts here)."""
        for module in self.frozen_modules():
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        toxicity: bool = True,
        topic: bool = True,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Token states of the fine-tuned branch (None unless ``toxicity``) and unit topic
        embeddings (B, H; None unless ``topic``): one pass through the trunk, then each
        branch's top layers. Without a separate topic branch both come from one pass."""
        if not len(self.topic_layers):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            states = states.last_hidden_state
            return states, nn.functional.normalize(mean_pool(states, attention_mask).float(), -1)
        hidden = self.encoder.embeddings(input_ids=input_ids)
        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        layers = self.encoder.encoder.layer
        for layer in layers[: self.shared_layers]:
            hidden = layer(hidden, mask)
        topic_embedding = None
        if topic:  # comments without article or parent skip this branch
            branch = hidden
            for layer in self.topic_layers:
                branch = layer(branch, mask)
            topic_embedding = nn.functional.normalize(
                mean_pool(branch, attention_mask).float(), dim=-1
            )
        if not toxicity:
            return None, topic_embedding
        for layer in layers[self.shared_layers :]:
            hidden = layer(hidden, mask)
        return hidden, topic_embedding

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Unit topic embeddings of context texts (articles, parents), with the fine-tuned
        branch's token states only when there is no separate topic branch."""
        return self.encode(input_ids, attention_mask, toxicity=not len(self.topic_layers))

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

    def comment_heads(
        self, states: torch.Tensor, topic: torch.Tensor | None, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Attribute logits (B, A), span logits (B, T) and the pooled comment embedding."""
        # heads read the fine-tuned branch; without a topic branch that is the topic embedding
        pooled = mean_pool(states, attention_mask).float() if len(self.topic_layers) else topic
        return {
            "logits": self.heads(self.dropout(pooled)),
            "span_logits": self.span_head(self.dropout(states.float())).squeeze(-1),
            "pooled": pooled,
        }

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        article: torch.Tensor | None = None,
        parent: torch.Tensor | None = None,
        has_article: torch.Tensor | None = None,
        has_parent: torch.Tensor | None = None,
        topic: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Score a batch of comments; ``article``/``parent`` are precomputed unit embeddings.

        With ``topic=False`` (no comment of the batch has context) the topic branch and the
        context head are skipped: the output has no ``topic`` and no ``context_logit``.
        """
        states, topic_embedding = self.encode(input_ids, attention_mask, topic=topic)
        out = self.comment_heads(states, topic_embedding, attention_mask)
        if not topic:
            return out
        out["topic"] = topic_embedding
        batch = input_ids.shape[0]
        if has_article is None:
            has_article = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        if has_parent is None:
            has_parent = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        out["context_logit"] = self.context_logit(
            topic_embedding, article, parent, has_article=has_article, has_parent=has_parent
        )
        return out
