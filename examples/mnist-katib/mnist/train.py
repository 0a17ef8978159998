"""One MNIST trial for pfgen's Katib example (seed 004), as a DDP job under torchrun.

Katib passes the trial's hyperparameters on the command line
(--learning_rate, --batch_size). After every epoch the rank-0 process logs
the test accuracy and loss twice:

* with the PeriFlow SDK, ``pf.metric({...})``, which in local mode (no
  PERIFLOW_ENABLED=1, as on Kubeflow) appends one JSON object per line to the
  file given to ``pf.init(local_log_name=...)``; pfgen's ``format: periflow``
  file collector reads that file;
* as ``name=value`` on stdout, which Katib's StdOut collector would read.

The data are the four MNIST IDX files (optionally gzipped) under --data-path;
``--fake-data N`` uses N random images instead (for smoke tests without data).
"""

from __future__ import annotations

import argparse
import gzip
import os
import struct
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> torch.Tensor:
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.exists():
            opener = gzip.open if candidate.suffix == ".gz" else open
            with opener(candidate, "rb") as handle:
                data = handle.read()
            dims = data[3]
            shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
            return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)
    raise SystemExit(f"missing MNIST file {path} (or {path.name}.gz); see docs/tuning.md")


def dataset(args: argparse.Namespace, train: bool) -> TensorDataset:
    if args.fake_data:
        generator = torch.Generator().manual_seed(0 if train else 1)
        images = torch.rand(args.fake_data, 1, 28, 28, generator=generator)
        labels = torch.randint(0, 10, (args.fake_data,), generator=generator)
        return TensorDataset(images, labels)
    image_file, label_file = FILES[train]
    images = read_idx(Path(args.data_path) / image_file).float().div(255).unsqueeze(1)
    labels = read_idx(Path(args.data_path) / label_file).long()
    return TensorDataset((images - 0.1307) / 0.3081, labels)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-path", default="/workspace/data")
    parser.add_argument("--fake-data", type=int, default=0)
    parser.add_argument("--metrics-file", default="/var/log/mnist/metrics.jsonl")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(0)

    if rank == 0:
        import periflow_sdk as pf

        Path(args.metrics_file).parent.mkdir(parents=True, exist_ok=True)
        pf.init(local_log_name=args.metrics_file)

    train_set, test_set = dataset(args, True), dataset(args, False)
    sampler = DistributedSampler(train_set)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    test_loader = DataLoader(test_set, batch_size=1000, sampler=DistributedSampler(test_set, shuffle=False))

    model = DistributedDataParallel(Net().to(device), device_ids=[local_rank] if cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=args.momentum)

    for epoch in range(1, args.epochs + 1):
        model.train()
        sampler.set_epoch(epoch)
        for images, labels in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(model(images.to(device)), labels.to(device)).backward()
            optimizer.step()

        model.eval()
        totals = torch.zeros(3, device=device)  # loss sum, correct, count
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                output = model(images)
                totals[0] += F.cross_entropy(output, labels, reduction="sum")
                totals[1] += (output.argmax(1) == labels).sum()
                totals[2] += labels.numel()
        dist.all_reduce(totals)
        loss, accuracy = (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()
        if rank == 0:
            pf.metric({"epoch": epoch, "loss": round(loss, 6), "accuracy": round(accuracy, 6)})
            print(f"epoch={epoch} loss={loss:.6f} accuracy={accuracy:.6f}", flush=True)

    dist.barrier()  # no rank tears gloo down while a peer still talks to it (SIGABRT at exit)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
