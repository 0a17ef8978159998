"""A Lightning autoencoder on MNIST with the PeriFlow SDK (seed 002's main.py).

    python main.py --checkpoint-dir DIR --num-epochs N [--data-dir DIR]

Runs on a GPU when there is one, else on the CPU. TRAIN_MAX_STEPS=<n> in the
environment caps the number of steps (smoke runs:
`pfgen run --local --env TRAIN_MAX_STEPS=2 ...`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional, Union

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning import Callback, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn

from mnist_datamodule import DEFAULT_DIR, MyDataModule

try:
    import periflow_sdk as pf
except ImportError:  # outside PeriFlow the SDK's calls do nothing; neither does this stand-in
    from types import SimpleNamespace

    def _nothing(*_args, **_kwargs) -> None:
        return None

    pf = SimpleNamespace(init=_nothing, start_step=_nothing, end_step=_nothing, metric=_nothing,
                         upload_checkpoint=_nothing)


class LitAutoEncoder(pl.LightningModule):
    def __init__(self, hidden_dim: int = 64, lr: float = 1e-3):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 3))
        self.decoder = nn.Sequential(nn.Linear(3, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 28 * 28))

    def forward(self, x):
        return self.encoder(x)

    def training_step(self, batch, batch_idx):
        x, _ = batch
        loss = F.mse_loss(self.decoder(self.encoder(x)), x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class PeriFlowCallback(Callback):
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int, unused: int = 0) -> None:
        pf.start_step()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int, unused: int = 0) -> None:
        loss = float(outputs["loss"])
        pf.metric({"iteration": trainer.global_step, "loss": loss})
        if trainer.is_global_zero:
            print(f"iteration={trainer.global_step} loss={loss:.5f}", flush=True)
        pf.end_step()


class PeriFlowTrainer(Trainer):
    def save_checkpoint(self, filepath: Union[str, Path], weights_only: bool = False,
                        storage_options: Optional[Any] = None) -> None:
        super().save_checkpoint(filepath, weights_only=weights_only, storage_options=storage_options)
        pf.upload_checkpoint()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--num-epochs", type=int, default=10)
    parser.add_argument("--data-dir", default=DEFAULT_DIR)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    pl.seed_everything(1234, verbose=False)
    model = LitAutoEncoder()
    datamodule = MyDataModule(args.data_dir, batch_size=args.batch_size)
    total_steps = args.num_epochs * datamodule.num_steps_per_epoch
    max_steps = int(os.environ.get("TRAIN_MAX_STEPS", "-1"))
    if max_steps > 0:
        total_steps = min(total_steps, max_steps)
    pf.init(total_train_steps=total_steps)

    checkpoint_callback = ModelCheckpoint(dirpath=args.checkpoint_dir) if args.checkpoint_dir else None
    trainer = PeriFlowTrainer(
        max_epochs=args.num_epochs,
        max_steps=max_steps,
        callbacks=[PeriFlowCallback(), *([checkpoint_callback] if checkpoint_callback else [])],
        enable_checkpointing=isinstance(checkpoint_callback, ModelCheckpoint),
        default_root_dir=args.checkpoint_dir or os.getcwd(),
        num_nodes=int(os.environ.get("NUM_NODES", "1")),
        devices=int(os.environ.get("NPROC_PER_NODE", "1")) if torch.cuda.is_available() else 1,
        enable_progress_bar=sys.stderr.isatty(),
        log_every_n_steps=1,
    )
    trainer.fit(model, datamodule=datamodule)
    if trainer.is_global_zero:
        print(f"done steps={trainer.global_step} device={'cuda' if torch.cuda.is_available() else 'cpu'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
