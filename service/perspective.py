"""Perspective API's protocol (``comments:analyze``, ``comments:suggestscore``), mapped onto
Civility's attributes, so that a client such as Coral Talk switches by changing its endpoint.

Attribute table (Perspective name -> Civility attribute):

=====================  ======================  ==============================================
Perspective            Civility                note
=====================  ======================  ==============================================
TOXICITY               incivility              rude, disrespectful or unreasonable
SEVERE_TOXICITY        hostility               aggressive, belligerent: the severe end
IDENTITY_ATTACK        identity_attack
INSULT                 insult
PROFANITY, OBSCENE     profanity
THREAT                 threat
ATTACK_ON_AUTHOR       personal_attack         aimed at the author or another commenter
ATTACK_ON_COMMENTER    personal_attack
INFLAMMATORY           antagonism              provoking, trolling
OFF_TOPIC              off_topic               needs ``context.articleAndParentComment``
=====================  ======================  ==============================================

Every Civility attribute can also be requested by its own name in capitals (``INCIVILITY``,
``PERSONAL_ATTACK``, ``SARCASM``, ...). Anything else (SPAM, INCOHERENT, UNSUBSTANTIAL,
LIKELY_TO_REJECT) is an error, or silently dropped with ``dropUnsupportedAttributes``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from model import attributes as taxonomy
from model.comments import Article, Comment, ScoreResult
from service.language import detect_language

PERSPECTIVE_TO_CIVILITY = {
    "TOXICITY": "incivility",
    "SEVERE_TOXICITY": "hostility",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "profanity",
    "OBSCENE": "profanity",
    "THREAT": "threat",
    "ATTACK_ON_AUTHOR": "personal_attack",
    "ATTACK_ON_COMMENTER": "personal_attack",
    "INFLAMMATORY": "antagonism",
    "OFF_TOPIC": "off_topic",
} | {name.upper(): name for name in taxonomy.NAMES}
SUPPORTED_LANGUAGES = ("en",)
ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ABORTED", 413: "INVALID_ARGUMENT",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}


class PerspectiveError(Exception):
    """An error answered in Google's JSON error format."""

    def __init__(self, code: int, message: str, error_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.error_type = code, message, error_type
        self.headers = headers

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message,
                 "status": STATUS_NAMES.get(self.code, "UNKNOWN")}
        if self.error_type:
            error["details"] = [{"@type": ERROR_TYPE, "errorType": self.error_type}]
        return {"error": error}


# ---- request and response shapes ----------------------------------------------------------
class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextEntry(_Shape):
    text: str = ""
    type: str | None = None


class ArticleAndParent(_Shape):
    article: TextEntry | None = None
    parentComment: TextEntry | None = None


class Context(_Shape):
    entries: list[TextEntry] | None = None
    articleAndParentComment: ArticleAndParent | None = None


class RequestedAttribute(_Shape):
    scoreType: str | None = None
    scoreThreshold: float | None = Field(None, ge=0.0, le=1.0)


class AnalyzeRequest(_Shape):
    comment: TextEntry
    context: Context | None = None
    requestedAttributes: dict[str, RequestedAttribute] = {}
    spanAnnotations: bool = False
    languages: list[str] | None = None
    doNotStore: bool = False
    clientToken: str | None = None
    sessionId: str | None = None
    communityId: str | None = None
    dropUnsupportedAttributes: bool = False

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{
            "comment": {"text": "You are an idiot and your article is rubbish."},
            "requestedAttributes": {"TOXICITY": {}, "INSULT": {"scoreThreshold": 0.5}},
            "spanAnnotations": True, "languages": ["en"], "clientToken": "comment-42",
        }]},
    )


class Score(_Shape):
    value: float
    type: str = "PROBABILITY"


class SummaryScore(_Shape):
    summaryScore: Score


class SuggestRequest(_Shape):
    comment: TextEntry
    context: Context | None = None
    attributeScores: dict[str, SummaryScore]
    languages: list[str] | None = None
    communityId: str | None = None
    clientToken: str | None = None
    sessionId: str | None = None

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{
            "comment": {"text": "You are an idiot."},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "communityId": "Coral:example.com", "clientToken": "comment-42",
        }]},
    )


# ---- translation --------------------------------------------------------------------------
def check_text(text: str, *, max_bytes: int) -> None:
    if not text.strip():
        raise PerspectiveError(400, "comment.text: Comment must be non-empty.", "COMMENT_EMPTY")
    if len(text.encode("utf-8")) > max_bytes:
        raise PerspectiveError(
            400, f"comment.text: Comment text too long (over {max_bytes} bytes).",
            "COMMENT_TOO_LONG",
        )


def context_comment(text: str, context: Context | None) -> Comment:
    """The comment with its context: ``articleAndParentComment``, or ``entries`` (the first
    entry is the article, the last of two or more the parent comment)."""
    article_text = parent_text = None
    if context and context.articleAndParentComment:
        pair = context.articleAndParentComment
        article_text = pair.article.text if pair.article else None
        parent_text = pair.parentComment.text if pair.parentComment else None
    elif context and context.entries:
        article_text = context.entries[0].text
        if len(context.entries) > 1:
            parent_text = context.entries[-1].text
    article = Article(text=article_text) if article_text else None
    return Comment(text=text, article=article, parent=parent_text)


def resolve_language(text: str, requested: list[str] | None) -> tuple[list[str], bool]:
    """The languages to report and whether the model supports them."""
    if requested:
        languages = [code.lower().split("-")[0] for code in requested]
        return languages, any(code in SUPPORTED_LANGUAGES for code in languages)
    detected = detect_language(text)
    return [detected], detected in (*SUPPORTED_LANGUAGES, "und")


def plan_attributes(
    requested: dict[str, RequestedAttribute],
    *,
    available: list[str],
    has_context: bool,
    drop_unsupported: bool,
    language_ok: bool,
    languages: list[str],
) -> dict[str, str]:
    """Perspective name -> Civility attribute for what will be scored; raises on what cannot."""
    if not requested:
        raise PerspectiveError(400, "requestedAttributes: Must request at least one attribute.",
                               "NO_REQUESTED_ATTRIBUTES")
    plan: dict[str, str] = {}
    for name, options in requested.items():
        target = PERSPECTIVE_TO_CIVILITY.get(name.upper())
        if options.scoreType not in (None, "PROBABILITY"):
            raise PerspectiveError(
                400, f"requestedAttributes.{name}.scoreType: only PROBABILITY is supported.",
                "INVALID_SCORE_TYPE",
            )
        reason = None
        if target is None or target not in available:
            reason = (f"requestedAttributes.{name}: attribute not supported "
                      f"(see the attribute table in the README)", "ATTRIBUTE_NOT_SUPPORTED")
        elif not language_ok:
            reason = (f"Attribute {name} does not support request languages: "
                      f"{','.join(languages)}", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
        elif target in taxonomy.CONTEXT_ATTRIBUTES and not has_context:
            reason = (f"requestedAttributes.{name}: needs context.articleAndParentComment "
                      f"(the article and/or the parent comment)", "CONTEXT_REQUIRED")
        if reason is None:
            plan[name] = target
        elif not drop_unsupported:
            raise PerspectiveError(400, *reason)
    return plan


def utf16_offsets(text: str) -> list[int]:
    """``offsets[i]`` = UTF-16 code units before character ``i`` (and the total at the end)."""
    out, units = [0], 0
    for ch in text:
        units += 2 if ord(ch) > 0xFFFF else 1
        out.append(units)
    return out


def analyze_response(
    request: AnalyzeRequest, plan: dict[str, str], result: ScoreResult | None,
    *, span_attribute: str, languages: list[str],
) -> dict:
    """The ``comments:analyze`` response for ``result`` (None when nothing was scored)."""
    scores: dict[str, dict] = {}
    text = request.comment.text
    offsets = utf16_offsets(text) if request.spanAnnotations else []
    for name, target in (plan.items() if result else ()):
        value = result.scores[target]
        threshold = request.requestedAttributes[name].scoreThreshold
        if value is None or (threshold is not None and value < threshold):
            continue
        entry: dict = {"summaryScore": {"value": value, "type": "PROBABILITY"}}
        if request.spanAnnotations:
            spans = [{"begin": 0, "end": offsets[-1], "score": {"value": value,
                                                                 "type": "PROBABILITY"}}]
            if target == span_attribute and result.spans:
                spans += [{"begin": offsets[begin], "end": offsets[end],
                           "score": {"value": value, "type": "PROBABILITY"}}
                          for begin, end in result.spans.get(span_attribute, [])]
            entry["spanScores"] = spans
        scores[name] = entry
    body: dict = {"attributeScores": scores, "languages": languages,
                  "detectedLanguages": languages}
    if request.clientToken is not None:
        body["clientToken"] = request.clientToken
    return body
