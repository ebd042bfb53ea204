"""Service settings: one typed object, from environment variables prefixed ``CIVILITY_`` or a
``.env`` file in the working directory (see the README's settings table)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.artifact import RELEASE_DIR
from model.loading import DEFAULT_PRECISION


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CIVILITY_", env_file=".env", extra="ignore", protected_namespaces=()
    )

    model_dir: Path = Field(RELEASE_DIR, description="model artifact directory")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="auto = the fast runtime form when built or buildable, else PyTorch"
    )
    runtime_precision: Literal["fp32", "int8"] = Field(
        DEFAULT_PRECISION, description="the runtime form's encoder graphs: int8 (1.7x faster, "
        "every attribute's validation ROC-AUC within 0.0035 of PyTorch) or fp32 (PyTorch's "
        "scores exactly)"
    )
    database_url: str = Field("sqlite:///civility.db", description="SQLAlchemy URL")
    require_keys: bool = Field(
        True, description="false = local development mode: every request is admin, no key"
    )
    max_batch: int = Field(64, ge=1, description="comments per /v1/score request")
    max_thread_comments: int = Field(500, ge=1, description="comments per /v1/threads:score")
    max_comment_bytes: int = Field(20_480, ge=1, description="UTF-8 bytes per comment (20 KB)")
    max_article_bytes: int = Field(200_000, ge=1, description="UTF-8 bytes per article text")
    max_body_bytes: int = Field(4_000_000, ge=1, description="bytes per request body")
    batch_size: int = Field(
        4, ge=1, description="comments per model forward pass (length-sorted; 4 measured best "
        "for concurrent HTTP load on 2 cores: less padding than 8)"
    )
    batch_wait_ms: float = Field(
        3.0, ge=0, description="how long the micro-batcher waits to fill a batch"
    )
    micro_batch_max: int = Field(64, ge=1, description="comments the micro-batcher merges")
    score_timeout_s: float = Field(10.0, gt=0, description="scoring time limit per request")
    rate_limit_per_minute: int = Field(
        600, ge=0, description="requests per key per minute (0 = unlimited)"
    )
    rate_limit_burst: int = Field(60, ge=1, description="requests a key may send at once")
    log_json: bool = Field(True, description="structured JSON logs (false = plain text)")
    rules_file: Path | None = Field(
        None, description="moderation rules (TOML, e.g. configs/rules.toml; default: hold "
                          "what the model flags)"
    )
    claim_seconds: float = Field(600, gt=0, description="how long a moderator's claim lasts")
    max_ingest_comments: int = Field(500, ge=1, description="comments per POST /v1/comments")
    rescore_interval_s: float = Field(
        60, gt=0, description="how often comments left unscored are scored again"
    )
    malloc_arenas: int = Field(
        2, ge=0, description="glibc malloc arenas for `civility serve` (0 = glibc's default, 8 "
        "per core): each thread that allocates may otherwise hold freed memory in its own arena"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
