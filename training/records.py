"""The one schema every data adapter yields."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.attributes import NAMES


@dataclass
class Record:
    """One training or validation example.

    ``labels`` maps attribute name -> target in [0, 1] (soft labels allowed); an attribute the
    source says nothing about is absent, and its loss is masked.
    ``group`` is the thread/post/conversation id used for grouped splits and off-topic pairs.
    """

    text: str
    labels: dict[str, float]
    source: str
    split: str  # "train" or "validation"
    article_title: str | None = None
    article_text: str | None = None
    parent: str | None = None
    span_chars: list[int] | None = None
    group: str | None = None
    weight: float = 1.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.labels) - set(NAMES)
        if unknown:
            raise ValueError(f"{self.source}: unknown attributes {sorted(unknown)}")
        if self.split not in ("train", "validation"):
            raise ValueError(f"{self.source}: split must be train or validation: {self.split!r}")

    @property
    def has_context(self) -> bool:
        return bool(self.article_title or self.article_text or self.parent)

    @property
    def is_pair(self) -> bool:
        """An off-topic pair made by ``training.data.pairs`` (source ``"<name>:pairs"``): its
        label is true by construction."""
        return self.source.endswith(":pairs")
