"""MNIST from its IDX files (train-images-idx3-ubyte[.gz], ...), without torchvision.

The files are read from a local directory; nothing is downloaded. The
directory shipped beside this module (MNIST/raw) holds a tiny synthetic
stand-in written by ../tiny_data.py; put the real MNIST files there (or pass
--data-dir) for real training.
"""

from __future__ import annotations

import gzip
import os
import struct

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "MNIST", "raw")


def read_idx(path: str) -> torch.Tensor:
    for candidate in (path, path + ".gz"):
        if os.path.isfile(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as fh:
                data = fh.read()
            break
    else:
        raise SystemExit(f"mnist_datamodule: {path}[.gz] not found; put the MNIST IDX files in {os.path.dirname(path)}")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"mnist_datamodule: {path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)


class MyDataModule(pl.LightningDataModule):
    def __init__(self, data_dir: str = DEFAULT_DIR, batch_size: int = 32, num_workers: int = 0):
        super().__init__()
        self.data_dir, self.batch_size, self.num_workers = data_dir, batch_size, num_workers
        images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"))
        labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte"))
        self.train = TensorDataset(images.float().div(255).flatten(1), labels.long())

    @property
    def num_steps_per_epoch(self) -> int:
        return -(-len(self.train) // self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers)
