"""Service settings, from environment variables prefixed ``CIVILITY_`` (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from model.artifact import RELEASE_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVILITY_", env_file=".env", extra="ignore")

    model_dir: Path = RELEASE_DIR
    database_url: str = "sqlite:///civility.db"
    max_batch: int = 64
    max_text_chars: int = 20_000  # Perspective's limit is 20 KB per request
    batch_size: int = 8


@lru_cache
def get_settings() -> Settings:
    return Settings()
