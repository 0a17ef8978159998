"""ResNets for 32x32 inputs (3x3 stem, no max-pool), without torchvision."""

from __future__ import annotations

import torch.nn as nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes))
        self.shortcut = _shortcut(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        return (self.body(x) + self.shortcut(x)).relu()


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = _shortcut(inplanes, out, stride)

    def forward(self, x):
        return (self.body(x) + self.shortcut(x)).relu()


def _shortcut(inplanes: int, out: int, stride: int) -> nn.Module:
    if stride == 1 and inplanes == out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int], num_classes: int):
        super().__init__()
        self.inplanes = 64
        stages = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
        for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            for b in range(blocks):
                stages.append(block(self.inplanes, planes, 2 if index > 0 and b == 0 else 1))
                self.inplanes = planes * block.expansion
        self.features = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(self.inplanes, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


ARCHITECTURES = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


def build_model(name: str, num_classes: int) -> nn.Module:
    if name not in ARCHITECTURES:
        raise SystemExit(f"unknown --model {name}; choose from {', '.join(ARCHITECTURES)}")
    block, layers = ARCHITECTURES[name]
    return ResNet(block, layers, num_classes)
