"""``civility recalibrate``: refit every calibrator and flag threshold of a finished artifact.

The weights stay as they are, so every raw score does too; what changes is how raw scores
become the probabilities users see and which of them are flagged. The validation records are
the config's (``pipeline.validation_sample``: its sources, seed and per-source caps, as a joint
run draws them), scored once; every attribute then gets the calibrator that the current
candidates (``training.calibration.choose_calibration``) and the out-of-fold rule pick, and the
threshold of the config's ``target_precision``; the span head gets its best span-F1 threshold.
Everything that depends on a calibrator or threshold is measured again on the same records:
per-source metrics, robustness, the bias checks, the reliability plots and the model card. The
records of the training run, of an off-topic tuning and of a continued run stay in metrics.json
as they were; ``metrics["recalibration"]`` and ``build["recalibration"]`` record this step and
each attribute's calibrator and threshold before and after.

Use it when the calibration candidates, the target precision or the validation data change,
without paying for training again.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from pathlib import Path

from model import artifact
from model.scorer import Scorer
from training import validation
from training.bias import bias_report
from training.config import Config, ConfigError
from training.data.corpus import load_configured, read_label_map
from training.pipeline import build_info, check_output, validation_sample, write_artifact

log = logging.getLogger(__name__)


def changes(before: dict, after: Scorer) -> dict:
    """Each attribute's calibration method and threshold before and after, and the span
    threshold's (``before``: the base's ``calibration`` and ``thresholds``)."""
    out = {}
    for name in after.config.attributes:
        out[name] = {
            "method_before": (before["calibration"].get(name) or {}).get("method"),
            "method_after": after.calibration[name]["method"],
            "threshold_before": (before["thresholds"]["attributes"].get(name) or {}).get(
                "threshold"),
            "threshold_after": after.thresholds["attributes"][name]["threshold"],
        }
    out["_spans"] = {"threshold_before": (before["thresholds"].get("spans") or {}).get("threshold"),
                     "threshold_after": (after.thresholds.get("spans") or {}).get("threshold")}
    return out


def run(config: Config, *, command: list[str] | None = None) -> Path:
    """Recalibrate ``training.base_artifact`` and write the result to ``training.output_dir``
    (which may be the base artifact itself); return its path."""
    if not config.training.base_artifact:
        raise ConfigError("training.base_artifact (--base): the artifact to recalibrate")
    base, out = Path(config.training.base_artifact), Path(config.training.output_dir)
    check_output(out)
    began = time.time()
    scorer = Scorer.from_pretrained(base)
    base_tag = scorer.config.tag
    before = {"calibration": copy.deepcopy(scorer.calibration),
              "thresholds": copy.deepcopy(scorer.thresholds)}
    label_map = read_label_map(config)
    valid = validation_sample(load_configured(config, label_map=label_map), config)
    if not valid:
        raise ConfigError("no validation records in the configured sources: nothing to "
                          "recalibrate on")
    batch = config.training.eval_batch_size
    rows = validation.predict(scorer, valid, batch_size=batch, spans=True)
    validation.fit_calibration_and_thresholds(scorer, valid, rows,
                                              target_precision=config.training.target_precision)
    spans = validation.fit_span_threshold(scorer, valid, rows)
    scorer.config.name, scorer.config.version = config.model.name, config.model.version

    metrics = artifact.read_optional_json(base / artifact.METRICS)
    metrics.update({**validation.measured(scorer, valid, rows, spans=spans, batch_size=batch),
                    "bias": bias_report(scorer, Path(config.data.data_dir))})
    metrics.pop("known_gaps", None)
    if config.model.known_gaps:
        metrics["known_gaps"] = list(config.model.known_gaps)
    metrics["recalibration"] = {
        "base_model": base_tag, "command": " ".join(command or sys.argv),
        "records": len(valid), "target_precision": config.training.target_precision,
        "seconds": round(time.time() - began, 1), "attributes": changes(before, scorer)}
    build = artifact.read_optional_json(base / artifact.BUILD)
    build["recalibration"] = {**build_info(config, None, command or sys.argv),
                              "base_model": base_tag}
    return write_artifact(scorer, out, metrics=metrics, build=build,
                          config=build.get("config") or config.to_dict(),
                          curves=validation.calibration_curves(scorer, valid, rows),
                          label_map=label_map)
