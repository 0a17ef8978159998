"""Write a tiny CIFAR-100 stand-in in the dataset's own layout, for local runs.

    python examples/cifar100/tiny_data.py DIR [--train N] [--test N]

creates DIR/cifar-100-python/{train,test,meta}: Python pickles with the keys
of the published files (data: N x 3072 uint8 rows, fine_labels, coarse_labels,
filenames; meta: fine_label_names, coarse_label_names). Images are
deterministic coloured patterns, one per class, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path


def image(label: int, index: int) -> bytes:
    planes = []
    for channel in range(3):
        base = (label * 37 + channel * 85) % 256
        planes.append(bytes((base + 3 * x + 5 * y + index) % 256 for y in range(32) for x in range(32)))
    return b"".join(planes)


def split(count: int, offset: int) -> dict:
    labels = [(offset + i) % 100 for i in range(count)]
    return {
        "data": b"".join(image(label, i) for i, label in enumerate(labels)),
        "fine_labels": labels,
        "coarse_labels": [label // 5 for label in labels],
        "filenames": [f"tiny_{offset + i:05d}.png" for i in range(count)],
        "batch_label": "tiny stand-in",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a tiny CIFAR-100 stand-in.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=32)
    parser.add_argument("--test", type=int, default=16)
    args = parser.parse_args()
    root = args.out / "cifar-100-python"
    root.mkdir(parents=True, exist_ok=True)
    for name, payload in (("train", split(args.train, 0)), ("test", split(args.test, 7))):
        with open(root / name, "wb") as fh:
            pickle.dump(payload, fh, protocol=2)
    with open(root / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": [f"class_{i}" for i in range(100)],
                     "coarse_label_names": [f"superclass_{i}" for i in range(20)]}, fh, protocol=2)
    print(f"wrote {root} ({args.train} train, {args.test} test images)")


if __name__ == "__main__":
    main()
