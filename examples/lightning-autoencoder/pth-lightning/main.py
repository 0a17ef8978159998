"""A small MNIST autoencoder with PyTorch Lightning (the PeriFlow Lightning tutorial's workspace)."""

import argparse
import os

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import MNIST


class AutoEncoder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        loss = nn.functional.mse_loss(self.decoder(self.encoder(x)), x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint-dir", default="/workspace/ckpt")
    parser.add_argument("--num-epochs", type=int, default=10)
    parser.add_argument("--data-dir", default=os.path.join(os.getcwd(), "data"))
    args = parser.parse_args()

    dataset = MNIST(args.data_dir, download=True, transform=transforms.ToTensor())
    trainer = pl.Trainer(max_epochs=args.num_epochs, default_root_dir=args.checkpoint_dir,
                         accelerator="auto", devices="auto")
    trainer.fit(AutoEncoder(), DataLoader(dataset, batch_size=64, num_workers=2))


if __name__ == "__main__":
    main()
