"""The attribute taxonomy: every attribute Civility scores, defined once.

Everything else (training label maps, heads, thresholds, the API) refers to these names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    name: str
    definition: str
    core: bool = False
    needs_context: bool = False


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        "incivility",
        "Rude, disrespectful or contemptuous language: name-calling, vulgarity, mockery, "
        "aspersions, sweeping attacks on groups.",
        core=True,
    ),
    Attribute(
        "personal_attack",
        "An attack aimed at a participant of the discussion (another commenter or the "
        "article's author); not at public figures, not at groups.",
        core=True,
    ),
    Attribute(
        "off_topic",
        "Not about the article's subject and not a reasonable continuation of the parent "
        "comment. Scored only when an article or parent is given.",
        core=True,
        needs_context=True,
    ),
    Attribute("insult", "Insulting, inflammatory or negative language towards a person or group."),
    Attribute("profanity", "Swear words, curse words or other obscene language."),
    Attribute("threat", "An intention to inflict pain, injury or violence against someone."),
    Attribute(
        "identity_attack",
        "Negative or hateful language aimed at people because of their identity "
        "(religion, ethnicity, gender, sexual orientation, disability, ...).",
    ),
    Attribute("hostility", "Hostile language: aggressive, belligerent or threatening in tone."),
    Attribute(
        "antagonism", "Antagonising: provocative, insulting or trolling remarks meant to upset."
    ),
    Attribute(
        "dismissiveness", "Dismissive: belittles or rejects another view without engaging it."
    ),
    Attribute(
        "condescension", "Condescending or patronising towards the reader or another commenter."
    ),
    Attribute("sarcasm", "Sarcastic: says the opposite of what is meant, to mock or ridicule."),
    Attribute("unfair_generalisation", "An unfair generalisation about a group of people."),
)

BY_NAME: dict[str, Attribute] = {a.name: a for a in ATTRIBUTES}
NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
CORE: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES if a.core)
CONTEXT_ATTRIBUTES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES if a.needs_context)


def get(name: str) -> Attribute:
    """Return the attribute called ``name`` or raise ``KeyError`` naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown attribute {name!r}; known: {', '.join(NAMES)}") from None
