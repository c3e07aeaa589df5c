"""Metric accumulation (allreduced over ranks) and sinks: CSV, JSON and TensorBoard."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable

import torch


class MeanAccumulator:
    """Batch-size-weighted means of named scalars, reducible over processes."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, terms: dict[str, torch.Tensor], n: int) -> None:
        """Add one batch's terms (scalar tensors) for ``n`` jets."""
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * n
        self.count += n

    def result(self, allreduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None
               ) -> dict[str, float]:
        """Means over every rank's jets (``allreduce_sum`` sums a tensor over ranks)."""
        keys = sorted(self.sums)
        vec = torch.tensor([self.sums[k] for k in keys] + [float(self.count)], dtype=torch.float64)
        if allreduce_sum is not None:
            vec = allreduce_sum(vec)
        count = float(vec[-1])
        return {k: float(vec[i]) / count if count else math.nan for i, k in enumerate(keys)}


class MetricsWriter:
    """Writes per-epoch rows to ``metrics.csv`` / ``metrics.json`` and scalars to TensorBoard
    (``RUN/tensorboard``). Only rank 0 creates one (``enabled=False`` elsewhere: all no-ops)."""

    def __init__(self, out_dir: Path, enabled: bool, history: list[dict[str, Any]] | None = None,
                 purge_step: int | None = None) -> None:
        self.out_dir, self.enabled = Path(out_dir), enabled
        self.history: list[dict[str, Any]] = list(history or [])
        self.tb = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(log_dir=str(self.out_dir / "tensorboard"), purge_step=purge_step)

    def step(self, scalars: dict[str, float], step: int) -> None:
        """Per-step training scalars (``train_step/<name>``)."""
        if self.tb is not None:
            for key, value in scalars.items():
                self.tb.add_scalar(f"train_step/{key}", value, step)

    def epoch(self, row: dict[str, Any]) -> None:
        """Append an epoch row (keys like ``train_loss``, ``val_recon``) and rewrite the files."""
        if not self.enabled:
            return
        self.history.append(row)
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and self.tb is not None:
                split, _, name = key.partition("_")
                tag = f"{split}/{name}" if split in ("train", "val") and name else f"epoch/{key}"
                self.tb.add_scalar(tag, value, row["epoch"])
        if self.tb is not None:
            self.tb.flush()
        self.write_files()

    def write_files(self) -> None:
        """``metrics.json`` (list of rows) and ``metrics.csv`` (union of columns)."""
        (self.out_dir / "metrics.json").write_text(json.dumps(self.history, indent=1) + "\n")
        columns: list[str] = []
        for row in self.history:
            columns += [k for k in row if k not in columns]
        with open(self.out_dir / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.history)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
