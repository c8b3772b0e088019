"""The LoRA training loop: batches, the assistant-only loss, the schedule, checkpoints.

A plain loop rather than a framework's trainer: it is short, its state is exactly what
:mod:`weighbridge.own.lora_checkpoint` saves, and each step reports its loss to whoever
shows progress. Step ``s`` (counted from 0) reads batch ``s mod steps_per_epoch`` of epoch
``s div steps_per_epoch``, whose order is a permutation drawn from ``seed + epoch``, so a
resumed run sees the very batches the interrupted one would have.

The loss runs the model's trunk over every token but its output layer only where a label is
learned: on a 49k-word vocabulary that layer is a fifth of the model's work, and most
positions of a chat example are prompt.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from weighbridge.own import lora_checkpoint
from weighbridge.own.lora_data import IGNORE, Encoded


class Progress(Protocol):
    """What a run tells the person waiting for it."""

    def phase(self, text: str) -> None: ...

    def start(self, total: int, done: int) -> None: ...

    def step(self, step: int, loss: float) -> None: ...


class Quiet:
    """Progress for library callers who want none."""

    def phase(self, text: str) -> None:
        pass

    def start(self, total: int, done: int) -> None:
        pass

    def step(self, step: int, loss: float) -> None:
        pass


@dataclass(frozen=True)
class Plan:
    """How long and how fast to train."""

    total_steps: int
    batch_size: int
    lr: float
    seed: int
    checkpoint_every: int
    warmup_steps: int = 0


def plan_steps(examples: int, batch_size: int, epochs: float, max_steps: int | None) -> int:
    """Optimizer steps for ``epochs`` passes over the data, capped by ``max_steps``."""
    steps = max(1, math.ceil(epochs * math.ceil(examples / batch_size)))
    return min(steps, max_steps) if max_steps else steps


def learning_rate(plan: Plan, step: int) -> float:
    """Linear warm-up, then linear decay to a tenth of the peak: a pure function of the step."""
    if step < plan.warmup_steps:
        return plan.lr * (step + 1) / plan.warmup_steps
    remaining = plan.total_steps - plan.warmup_steps
    done = (step - plan.warmup_steps) / max(1, remaining)
    return plan.lr * (1.0 - 0.9 * done)


def train(
    model: Any,
    examples: list[Encoded],
    plan: Plan,
    *,
    checkpoints: Path,
    fingerprint: str,
    progress: Progress,
    device: torch.device,
) -> tuple[int, list[float]]:
    """Train ``model``'s trainable parameters in place: the step it resumed from, and the
    loss of each step run now.

    Starts after the newest checkpoint in ``checkpoints`` (made with the same fingerprint).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=plan.lr, weight_decay=0.0)
    start = lora_checkpoint.restore(checkpoints, fingerprint, model, optimizer)
    progress.start(plan.total_steps, start)
    model.train()
    losses: list[float] = []
    batches = _batches(examples, plan, start)
    for step in range(start, plan.total_steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(plan, step)
        losses.append(optimize(_loss(model, next(batches), device), params, optimizer))
        done = step + 1
        if done % plan.checkpoint_every == 0 or done == plan.total_steps:
            lora_checkpoint.save(checkpoints, done, fingerprint, model, optimizer)
        progress.step(done, losses[-1])
    return start, losses


@torch.no_grad()
def mean_loss(model: Any, examples: list[Encoded], batch_size: int, device: torch.device) -> float:
    """Cross-entropy per learned token over ``examples`` (the eval loss), with dropout off."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        count = sum(1 for e in batch for label in e.labels[1:] if label != IGNORE)  # predicted ones
        total += _loss(model, batch, device).item() * count
        tokens += count
    model.train(was_training)
    return total / max(1, tokens)


def optimize(loss: torch.Tensor, params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer) -> float:
    """One step down ``loss``: gradients clipped to norm 1 (a LoRA on a few examples spikes
    otherwise), then cleared for the next; the loss's value."""
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _batches(examples: list[Encoded], plan: Plan, start: int) -> Iterator[list[Encoded]]:
    per_epoch = math.ceil(len(examples) / plan.batch_size)
    epoch, index = divmod(start, per_epoch)
    while True:
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(plan.seed + epoch))
        for i in range(index, per_epoch):
            picked = order[i * plan.batch_size : (i + 1) * plan.batch_size]
            yield [examples[int(j)] for j in picked]
        epoch, index = epoch + 1, 0


def _loss(model: Any, batch: list[Encoded], device: torch.device) -> torch.Tensor:
    """Mean cross-entropy over the learned tokens of a right-padded batch."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    targets = labels[:, 1:]
    learned = targets != IGNORE
    config = model.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][learned]
    else:
        hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = model.get_output_embeddings()(hidden[:, :-1][learned])
    return F.cross_entropy(logits.float(), targets[learned])
