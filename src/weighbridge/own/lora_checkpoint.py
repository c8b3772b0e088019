"""Checkpoints of a LoRA run, so an interrupted fine-tune resumes where it stopped.

A checkpoint is a folder ``step-NNNNNN`` holding everything the next step depends on: the
adapter's weights, AdamW's moments, the random generator's state (LoRA dropout draws from it)
and the step. The learning rate is a pure function of the step and the data order a pure
function of the seed and the epoch, so nothing else needs keeping. Tensors go to safetensors
and the rest to JSON, never to pickle: loading a checkpoint runs no code.

A folder is written under a temporary name and renamed into place, so a run killed while
writing leaves the previous checkpoint intact; the newest two are kept. ``fingerprint``
names the base, the data and the settings that shaped the run: a checkpoint made with other
ones is never resumed from by accident.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from weighbridge.errors import InvalidRequestError

_KEEP = 2
_PREFIX = "step-"


def save(
    folder: Path, step: int, fingerprint: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> None:
    """Write the state after ``step`` optimizer steps, then drop all but the newest two."""
    final = folder / f"{_PREFIX}{step:06d}"
    work = folder / f".{final.name}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    save_file(_trainable(model), work / "adapter.safetensors")
    tensors, groups = _optimizer_state(optimizer)
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, work / "optimizer.safetensors")
    state = {"step": step, "fingerprint": fingerprint, "param_groups": groups}
    (work / "state.json").write_text(json.dumps(state, indent=1), "utf-8")
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    for old in checkpoints(folder)[:-_KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def restore(folder: Path, fingerprint: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load the newest checkpoint into ``model`` and ``optimizer``; the step it was taken at (0: none)."""
    found = checkpoints(folder)
    if not found:
        return 0
    latest = found[-1]
    state = json.loads((latest / "state.json").read_text("utf-8"))
    if state["fingerprint"] != fingerprint:
        raise InvalidRequestError(
            f"the checkpoints in {folder} were made with another base, data or settings: "
            "pass --no-resume to start over (it deletes them)"
        )
    weights = load_file(latest / "adapter.safetensors")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    tensors = load_file(latest / "optimizer.safetensors")
    torch.set_rng_state(tensors.pop("rng.cpu"))
    cuda_state = tensors.pop("rng.cuda", None)
    if cuda_state is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda_state)
    optimizer.load_state_dict(_optimizer_dict(tensors, state["param_groups"]))
    step: int = state["step"]
    return step


def checkpoints(folder: Path) -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(_PREFIX) and (p / "state.json").is_file())


def _trainable(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _optimizer_state(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """AdamW's per-parameter tensors by ``opt.INDEX.KEY``, and its groups' settings as JSON."""
    state = optimizer.state_dict()
    tensors = {
        f"opt.{index}.{key}": value.detach().contiguous()
        for index, slots in state["state"].items()
        for key, value in slots.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, state["param_groups"]


def _optimizer_dict(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, index, slot = key.split(".", 2)
        state.setdefault(int(index), {})[slot] = value
    return {"state": state, "param_groups": groups}
