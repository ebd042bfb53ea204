"""The current service with the runtime form swapped in through FastAPI's dependency override:
a preview of what ``civility serve`` gives once its lifespan calls ``load_scorer``. Used by
``benchmarks/http_load.py --runtime-preview``; the app's own lifespan still loads the PyTorch
scorer (unused here), so this process's memory is not a serving worker's.

    .venv/bin/python benchmarks/serve_runtime_preview.py --port 8001 --database sqlite:///x.db
"""

from __future__ import annotations

import argparse

import common  # noqa: F401 (puts the repository on sys.path)
import uvicorn

from model.loading import load_scorer
from service.app import create_app, get_scorer
from service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--database", default="sqlite:///civility-preview.db")
    args = parser.parse_args()
    settings = Settings(database_url=args.database)
    app = create_app(settings)
    scorer = load_scorer(settings.model_dir, backend="onnx").preload()
    app.dependency_overrides[get_scorer] = lambda: scorer
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
