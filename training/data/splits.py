"""Deterministic, seeded split assignment by group (thread, post, conversation)."""

from __future__ import annotations

import hashlib


def assign_split(group: str, *, validation_fraction: float = 0.2, salt: str = "civility") -> str:
    """Return ``"validation"`` for a seeded ``validation_fraction`` of groups, else ``"train"``.

    Hash-based so the same group always lands in the same split, whatever the order of the
    data or the machine, and every record of one thread/post stays on one side.

    >>> assign_split("thread-42") in ("train", "validation")
    True
    """
    digest = hashlib.sha256(f"{salt}:{group}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return "validation" if bucket < validation_fraction else "train"
