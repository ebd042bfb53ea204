"""Moderation rules: what happens to a comment once it is scored, before any human sees it.

Per attribute, thresholds on the calibrated score (as in Conversation AI's moderator and
Coral's toxicity threshold): ``reject_at`` rejects automatically, ``hold_at`` holds the comment
for review (the ``flagged`` queue), ``approve_below`` approves it when every attribute with such
a threshold is below it. ``hold_on_model_flags`` holds a comment the model flagged (its own
tuned thresholds) on a risk attribute. Banned words reject, suspect words hold. Whatever
decides names itself in the returned ``Verdict.rule``, which the queue records.

The rules come from a TOML file (``CIVILITY_RULES_FILE``, example in ``configs/rules.toml``)::

    risk_attributes = ["incivility", "personal_attack", "off_topic", "threat"]
    hold_on_model_flags = true
    banned_words = ["buy cheap"]
    suspect_words = ["idiot"]

    [attributes.incivility]
    approve_below = 0.05
    hold_at = 0.8
    reject_at = 0.99
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from model.attributes import NAMES

DEFAULT_RISK_ATTRIBUTES = ("incivility", "personal_attack", "off_topic", "insult", "threat",
                           "identity_attack")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Thresholds:
    approve_below: float | None = None
    hold_at: float | None = None
    reject_at: float | None = None


@dataclass(frozen=True)
class Verdict:
    status: str  # pending, flagged, approved or rejected
    rule: str | None  # None: no rule fired (pending)


@dataclass
class Rules:
    risk_attributes: tuple[str, ...] = DEFAULT_RISK_ATTRIBUTES
    thresholds: dict[str, Thresholds] = field(default_factory=dict)
    hold_on_model_flags: bool = True
    banned_words: tuple[str, ...] = ()
    suspect_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._banned = _word_pattern(self.banned_words)
        self._suspect = _word_pattern(self.suspect_words)

    def risk(self, scores: dict[str, float | None]) -> tuple[float, float]:
        """The highest calibrated score over the risk attributes, and their sum (the
        tie-breaker: of two comments at 0.97, the one with more wrong with it comes first)."""
        values = [scores[a] for a in self.risk_attributes if scores.get(a) is not None]
        return (max(values), sum(values)) if values else (0.0, 0.0)

    def judge(self, text: str, scores: dict[str, float | None], flags: list[str]) -> Verdict:
        """The status the rules give a freshly scored comment, and the rule that gave it."""
        if self._banned is not None and (match := self._banned.search(text)):
            return Verdict("rejected", f"banned word '{match.group(0).lower()}'")
        for name, limits in self.thresholds.items():
            score = scores.get(name)
            if score is not None and limits.reject_at is not None and score >= limits.reject_at:
                return Verdict("rejected", f"{name} {score:.2f} >= reject_at {limits.reject_at}")
        for name, limits in self.thresholds.items():
            score = scores.get(name)
            if score is not None and limits.hold_at is not None and score >= limits.hold_at:
                return Verdict("flagged", f"{name} {score:.2f} >= hold_at {limits.hold_at}")
        if self.hold_on_model_flags:
            for name in self.risk_attributes:
                if name in flags:
                    return Verdict("flagged", f"model flagged {name} ({scores[name]:.2f})")
        if self._suspect is not None and (match := self._suspect.search(text)):
            return Verdict("flagged", f"suspect word '{match.group(0).lower()}'")
        approving = {n: t.approve_below for n, t in self.thresholds.items()
                     if t.approve_below is not None}
        if approving and all(scores.get(n) is not None and scores[n] < limit
                             for n, limit in approving.items()):
            names = ", ".join(f"{n} < {limit}" for n, limit in approving.items())
            return Verdict("approved", f"approve_below ({names})")
        return Verdict("pending", None)


def _word_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    """Whole words or phrases, any case: 'ass' must not catch 'class'."""
    if not words:
        return None
    alternatives = "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _probability(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise RulesError(f"{key}: must be a number between 0 and 1, not {value!r}")
    return float(value)


def _words(value, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise RulesError(f"{key}: must be a list of non-empty strings")
    return tuple(value)


def parse_rules(data: dict) -> Rules:
    """Rules from the parsed TOML; raises ``RulesError`` naming the bad key."""
    known = {"risk_attributes", "hold_on_model_flags", "banned_words", "suspect_words",
             "attributes"}
    for key in data:
        if key not in known:
            raise RulesError(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
    risk = data.get("risk_attributes", list(DEFAULT_RISK_ATTRIBUTES))
    if not isinstance(risk, list) or not risk:
        raise RulesError("risk_attributes: must be a non-empty list of attribute names")
    for name in risk:
        if name not in NAMES:
            raise RulesError(f"risk_attributes: unknown attribute {name!r}")
    thresholds = {}
    for name, table in (data.get("attributes") or {}).items():
        if name not in NAMES:
            raise RulesError(f"attributes.{name}: unknown attribute")
        if not isinstance(table, dict):
            raise RulesError(f"attributes.{name}: must be a table")
        for key in table:
            if key not in ("approve_below", "hold_at", "reject_at"):
                raise RulesError(f"attributes.{name}.{key}: unknown threshold")
        thresholds[name] = Thresholds(**{k: _probability(v, f"attributes.{name}.{k}")
                                         for k, v in table.items()})
    hold = data.get("hold_on_model_flags", True)
    if not isinstance(hold, bool):
        raise RulesError("hold_on_model_flags: must be true or false")
    return Rules(
        risk_attributes=tuple(risk),
        thresholds=thresholds,
        hold_on_model_flags=hold,
        banned_words=_words(data.get("banned_words", []), "banned_words"),
        suspect_words=_words(data.get("suspect_words", []), "suspect_words"),
    )


def load_rules(path: Path | None) -> Rules:
    """The rules in the TOML file ``path``, or the defaults (hold what the model flags)."""
    if path is None:
        return Rules()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"rules file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise RulesError(f"{path}: not valid TOML ({error})") from None
    try:
        return parse_rules(data)
    except RulesError as error:
        raise RulesError(f"{path}: {error}") from None
