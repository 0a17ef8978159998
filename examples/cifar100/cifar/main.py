"""CIFAR-100 image classification with DDP and the PeriFlow SDK (seed 001's main.py).

Runs under `torchrun` on GPUs (NCCL) or CPUs (gloo), and on one process without
torchrun. Reads the dataset in its published Python-pickle layout
(<data-path>/cifar-100-python/{train,test,meta}); it never downloads anything.
`python ../tiny_data.py DIR` writes a tiny stand-in in that layout.

TRAIN_MAX_STEPS=<n> in the environment caps the number of steps (smoke runs:
`pfgen run --local --env TRAIN_MAX_STEPS=2 ...`).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from models import build_model

try:
    import periflow_sdk as pf
except ImportError:  # outside PeriFlow the SDK's calls do nothing; neither does this stand-in
    from contextlib import nullcontext
    from types import SimpleNamespace

    pf = SimpleNamespace(init=lambda **_: None, train_step=nullcontext, upload_checkpoint=lambda: None)


class Cifar100(Dataset):
    MEAN = (0.5071, 0.4865, 0.4409)
    STD = (0.2673, 0.2564, 0.2762)

    def __init__(self, root: str, split: str, augment: bool):
        path = os.path.join(root, "cifar-100-python", split)
        if not os.path.isfile(path):
            sys.exit(f"main.py: {path} not found; mount the CIFAR-100 dataset (or a stand-in from tiny_data.py) at "
                     f"--data-path")
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        data = torch.tensor(bytearray(bytes(entry["data"])), dtype=torch.uint8) if isinstance(entry["data"], (bytes, bytearray)) \
            else torch.as_tensor(entry["data"], dtype=torch.uint8)
        self.images = data.reshape(-1, 3, 32, 32)
        self.labels = torch.as_tensor(entry["fine_labels"], dtype=torch.long)
        self.augment = augment
        self.mean = torch.tensor(self.MEAN).view(3, 1, 1)
        self.std = torch.tensor(self.STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index].float().div(255)
        if self.augment:
            if torch.rand(()) < 0.5:
                image = image.flip(-1)
            padded = F.pad(image, (4, 4, 4, 4), mode="reflect")
            x, y = torch.randint(0, 9, (2,)).tolist()
            image = padded[:, y:y + 32, x:x + 32]
        return (image - self.mean) / self.std, self.labels[index]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--dataset", default="cifar100", choices=["cifar100"])
    parser.add_argument("--batch-size", type=int, default=256, help="per process")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--log-interval", type=int, default=100)
    parser.add_argument("--total-epochs", type=int, default=50)
    parser.add_argument("--save-interval", type=int, default=100)
    parser.add_argument("--test-interval", type=int, default=100)
    parser.add_argument("--num-dataloader-workers", type=int, default=4)
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--save", default=None, help="directory for checkpoint.pt")
    parser.add_argument("--load", default=None, help="resume from <load>/checkpoint.pt when present")
    return parser.parse_args()


def setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world > 1 and "LOCAL_RANK" in os.environ:  # launched by torchrun
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return dist.get_rank(), dist.get_world_size(), device
    return 0, 1, device


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images.to(device))
            correct += (logits.argmax(1) == labels.to(device)).sum().item()
            total += labels.numel()
    counts = torch.tensor([correct, total], dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(counts)
    model.train()
    return (counts[0] / counts[1].clamp(min=1)).item()


def main() -> int:
    args = parse_args()
    rank, world, device = setup_distributed()
    torch.manual_seed(1234 + rank)
    train_set = Cifar100(args.data_path, "train", augment=True)
    test_set = Cifar100(args.data_path, "test", augment=False)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True) if world > 1 else None
    train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None,
                              num_workers=args.num_dataloader_workers, drop_last=False)
    test_loader = DataLoader(test_set, batch_size=args.batch_size,
                             sampler=DistributedSampler(test_set, world, rank, shuffle=False) if world > 1 else None,
                             num_workers=args.num_dataloader_workers)

    net = build_model(args.model, num_classes=100).to(device)
    model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if world > 1 else net
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = max(1, len(train_loader))
    total_steps = args.total_epochs * steps_per_epoch
    cap = os.environ.get("TRAIN_MAX_STEPS")
    if cap:
        total_steps = min(total_steps, int(cap))
    lr_scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=max(total_steps, 2))
    loss_function = nn.CrossEntropyLoss()

    step = 0
    if args.load and os.path.isfile(os.path.join(args.load, "checkpoint.pt")):
        state = torch.load(os.path.join(args.load, "checkpoint.pt"), map_location=device)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        lr_scheduler.load_state_dict(state["lr_scheduler"])
        step = state["latest_step"]
        if rank == 0:
            print(f"resumed from step {step}", flush=True)

    pf.init(total_train_steps=total_steps)
    epoch = step // steps_per_epoch
    if sampler is not None:
        sampler.set_epoch(epoch)
    train_iterator = iter(train_loader)
    model.train()
    while step < total_steps:
        try:
            inputs, labels = next(train_iterator)
        except StopIteration:
            epoch += 1
            if sampler is not None:
                sampler.set_epoch(epoch)
            train_iterator = iter(train_loader)
            continue
        with pf.train_step():
            optimizer.zero_grad()
            loss = loss_function(model(inputs.to(device)), labels.to(device))
            loss.backward()
            optimizer.step()
            lr_scheduler.step()
        step += 1
        if rank == 0 and (step % args.log_interval == 0 or step == total_steps):
            print(f"step={step} epoch={epoch} loss={loss.item():.4f} lr={lr_scheduler.get_last_lr()[0]:.5f}",
                  flush=True)
        if step % args.test_interval == 0 or step == total_steps:
            accuracy = evaluate(model, test_loader, device)
            if rank == 0:
                print(f"step={step} accuracy={accuracy:.4f}", flush=True)
        if args.save and rank == 0 and (step % args.save_interval == 0 or step == total_steps):
            os.makedirs(args.save, exist_ok=True)
            torch.save({"latest_step": step, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                        "lr_scheduler": lr_scheduler.state_dict()}, os.path.join(args.save, "checkpoint.pt"))
            pf.upload_checkpoint()
    if rank == 0:
        print(f"done steps={step} world_size={world} device={device.type}", flush=True)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
