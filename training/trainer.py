"""Multi-task fine-tuning: masked per-attribute loss, span loss, off-topic context loss.

Seeded and resumable: the whole sampling plan is drawn from the seed up front, dropout and noise
are re-seeded per step, and a checkpoint every ``checkpoint_every`` steps lets an interrupted run
continue where it stopped with the same batches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import get_linear_schedule_with_warmup

from model.encoding import ContextLengths, pad_pairs
from model.network import CivilityNetwork
from training.config import Config, ConfigError
from training.features import Batch, make_batch, sampling_plan, token_lengths
from training.records import Record

log = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def device_and_autocast(config: Config) -> tuple[torch.device, object]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = config.training.bf16
    if bf16 == "auto":
        bf16 = device.type == "cuda" or cpu_has_native_bf16()
    if not bf16:
        return device, nullcontext
    return device, lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy averaged over labelled entries only (NaN targets are masked)."""
    mask = ~torch.isnan(targets)
    if not mask.any():
        return logits.sum() * 0.0
    losses = nn.functional.binary_cross_entropy_with_logits(
        logits.float()[mask], targets[mask], reduction="none"
    )
    return (losses * weights[mask]).sum() / weights[mask].sum()


def batch_loss(
    network: CivilityNetwork, tokenizer, batch: Batch, config: Config, device: torch.device
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward a batch (the comments alone, and those with an off-topic label and a context
    through the off-topic branch) and combine the three losses."""
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    out = network(ids, mask)
    weights = batch.weights.to(device)
    k = batch.targets.shape[1]
    attribute_loss = masked_bce(out["logits"], batch.targets.to(device),
                                weights.unsqueeze(1).expand(-1, k))
    rows = [i for i, pair in enumerate(batch.pairs)
            if pair is not None and not math.isnan(float(batch.context_target[i]))
            ] if network.branch_trainable() else []  # a frozen branch: no pair pass
    if rows:
        pair_ids, pair_types, pair_mask = (torch.from_numpy(a).to(device) for a in pad_pairs(
            [batch.pairs[i] for i in rows], pad_id=tokenizer.pad_token_id))
        context_loss = masked_bce(network.context_logit(pair_ids, pair_types, pair_mask),
                                  batch.context_target[rows].to(device), weights[rows])
    else:
        context_loss = out["logits"].sum() * 0.0
    span_labels = batch.span_labels.to(device)
    span_labels = torch.where(mask.bool(), span_labels, math.nan)
    span_loss = masked_bce(out["span_logits"], span_labels,
                           weights.unsqueeze(1).expand_as(span_labels))
    t = config.training
    total = attribute_loss + t.context_loss_weight * context_loss + t.span_loss_weight * span_loss
    parts = {"attributes": attribute_loss.item(), "spans": span_loss.item(),
             **({"context": context_loss.item()} if rows else {})}  # logged: batches with pairs
    return total, parts


def train(
    network: CivilityNetwork,
    tokenizer,
    records: list[Record],
    config: Config,
    *,
    perturb_factory=None,
) -> dict:
    """Fine-tune ``network`` in place on the training ``records``; returns run statistics."""
    t = config.training
    device, autocast = device_and_autocast(config)
    if t.threads:
        torch.set_num_threads(t.threads)
    network.to(device).train()
    train_records = [r for r in records if r.split == "train"]
    lengths = token_lengths(tokenizer, train_records, max_length=t.max_length)
    steps = t.max_steps or max(1, math.ceil(len(train_records) * t.epochs / t.batch_size))
    weights = {name: float(spec.get("weight", 1.0)) for name, spec in config.data.sources.items()}
    plan = sampling_plan(train_records, lengths, source_weights=weights,
                         temperature=config.data.sampling_temperature, steps=steps,
                         batch_size=t.batch_size, seed=t.seed)
    trainable = [(n, p) for n, p in network.named_parameters() if p.requires_grad]
    layers = ("encoder.", "topic_layers.")  # transformer layers: the encoder's learning rate
    head_params = [p for n, p in trainable if not n.startswith(layers)]
    encoder_params = [p for n, p in trainable if n.startswith(layers)]
    optimizer = torch.optim.AdamW(
        [{"params": encoder_params, "lr": t.learning_rate},
         {"params": head_params, "lr": t.head_learning_rate}],
        weight_decay=t.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(steps * t.warmup_ratio), steps)
    checkpoint = Path(t.output_dir) / "checkpoint"
    fingerprint = json.dumps(config.to_dict(), sort_keys=True, default=str)
    start = resume(checkpoint, network, optimizer, scheduler, fingerprint=fingerprint)
    comment_attributes = network.comment_attributes
    log.info("training: %d records, %d steps of %d, starting at %d, device %s",
             len(train_records), steps, t.batch_size, start, device)
    began, seen, running = time.time(), 0, {}
    for step in range(start, steps):
        torch.manual_seed(t.seed + step)
        perturb = perturb_factory(np.random.default_rng(t.seed + step)) if perturb_factory else None
        batch = make_batch([train_records[i] for i in plan[step]], tokenizer,
                           comment_attributes=comment_attributes, context_attribute="off_topic",
                           max_length=t.max_length, head_fraction=config.model.head_fraction,
                           context_lengths=ContextLengths(*config.model.context_lengths),
                           perturb=perturb)
        with autocast():
            loss, parts = batch_loss(network, tokenizer, batch, config, device)
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seen += len(plan[step])
        for key, value in parts.items():
            running[key] = 0.9 * running.get(key, value) + 0.1 * value
        if (step + 1) % t.log_every == 0 or step + 1 == steps:
            rate = seen / (time.time() - began)
            eta = (steps - step - 1) * t.batch_size / max(rate, 1e-9)
            log.info("step %d/%d loss %.4f (%s) %.1f seq/s, eta %.0f min", step + 1, steps,
                     loss.item(), " ".join(f"{k} {v:.3f}" for k, v in running.items()), rate,
                     eta / 60)
        if (step + 1) % t.checkpoint_every == 0 and step + 1 < steps:
            save_checkpoint(checkpoint, network, optimizer, scheduler, step + 1,
                            fingerprint=fingerprint)
    network.eval().to("cpu")
    return {"steps": steps, "batch_size": t.batch_size, "train_records": len(train_records),
            "seconds": round(time.time() - began, 1), "device": str(device)}


def save_checkpoint(
    path: Path, network, optimizer, scheduler, step: int, *, fingerprint: str
) -> None:
    """Write weights (safetensors) and optimizer state atomically, then mark the step."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(fingerprint)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(path / "weights.tmp"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               path / "optimizer.tmp")
    os.replace(path / "weights.tmp", path / "weights.safetensors")
    os.replace(path / "optimizer.tmp", path / "optimizer.pt")
    (path / "step").write_text(str(step))
    log.info("checkpoint at step %d -> %s", step, path)


def resume(path: Path, network, optimizer, scheduler, *, fingerprint: str) -> int:
    """Load the last checkpoint if there is one; return the step to start from.

    A checkpoint written under another config is refused rather than silently continued."""
    if not (path / "step").exists():
        return 0
    saved = (path / "config.json").read_text() if (path / "config.json").exists() else None
    if saved != fingerprint:
        raise ConfigError(f"{path} holds a checkpoint of a run with another config: "
                          "use a new --output directory or delete the checkpoint")
    network.load_state_dict(load_file(str(path / "weights.safetensors")))
    state = torch.load(path / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    step = int((path / "step").read_text())
    log.info("resuming from checkpoint at step %d", step)
    return step
