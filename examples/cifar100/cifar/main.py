"""CIFAR-100 image classification with DistributedDataParallel (the PeriFlow tutorial's workspace).

Started by torchrun on every node; reads the dataset from --data-path (a
mounted volume) and writes checkpoints to --save.
"""

import argparse
import os

import torch
import torch.distributed as dist
import torchvision
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import transforms


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--dataset", default="cifar100", choices=["cifar100"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--log-interval", type=int, default=100)
    p.add_argument("--total-epochs", type=int, default=50)
    p.add_argument("--save-interval", type=int, default=100)
    p.add_argument("--test-interval", type=int, default=100)
    p.add_argument("--num-dataloader-workers", type=int, default=4)
    p.add_argument("--data-path", default="/workspace/data")
    p.add_argument("--save", default="/workspace/ckpt")
    p.add_argument("--load", default="/workspace/ckpt")
    return p.parse_args()


def main():
    args = parse_args()
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)

    normalize = transforms.Normalize((0.507, 0.487, 0.441), (0.267, 0.256, 0.276))
    train_set = torchvision.datasets.CIFAR100(
        args.data_path, train=True, download=False,
        transform=transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                      transforms.ToTensor(), normalize]),
    )
    sampler = DistributedSampler(train_set)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler,
                        num_workers=args.num_dataloader_workers, pin_memory=device.type == "cuda")

    model = getattr(torchvision.models, args.model)(num_classes=100).to(device)
    model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    start_epoch, step = 0, 0
    checkpoint = os.path.join(args.load, "last.pt")
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=device)
        model.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = state["epoch"] + 1, state["step"]

    for epoch in range(start_epoch, args.total_epochs):
        sampler.set_epoch(epoch)
        model.train()
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % args.log_interval == 0 and dist.get_rank() == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f}", flush=True)
            if step % args.save_interval == 0 and dist.get_rank() == 0:
                os.makedirs(args.save, exist_ok=True)
                torch.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict(),
                            "epoch": epoch, "step": step}, os.path.join(args.save, "last.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
