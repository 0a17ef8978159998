"""Write a tiny MNIST stand-in as IDX files (the format of the published MNIST).

    python examples/lightning-autoencoder/tiny_data.py [DIR] [--train N]

DIR defaults to pth-lightning/MNIST/raw beside this script (committed there,
so the example runs without a download). Images are deterministic strokes,
one pattern per digit; byte-identical on every run.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def image(digit: int, index: int) -> bytes:
    pixels = bytearray(28 * 28)
    for t in range(20):
        x = 4 + (t + digit * 3 + index) % 20
        y = 4 + (t * (digit + 1)) % 20
        pixels[y * 28 + x] = 255
        pixels[y * 28 + min(x + 1, 27)] = 128
    return bytes(pixels)


def write(path: Path, magic_dims: tuple[int, ...], payload: bytes) -> None:
    header = struct.pack(">HBB", 0, 0x08, len(magic_dims)) + struct.pack(">" + "I" * len(magic_dims), *magic_dims)
    with open(path, "wb") as raw:  # mtime=0: the same bytes on every run
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
            fh.write(header + payload)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a tiny MNIST stand-in.")
    parser.add_argument("out", type=Path, nargs="?", default=HERE / "pth-lightning" / "MNIST" / "raw")
    parser.add_argument("--train", type=int, default=64)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = [i % 10 for i in range(args.train)]
    write(args.out / "train-images-idx3-ubyte.gz", (args.train, 28, 28),
          b"".join(image(d, i) for i, d in enumerate(labels)))
    write(args.out / "train-labels-idx1-ubyte.gz", (args.train,), bytes(labels))
    print(f"wrote {args.out} ({args.train} images)")


if __name__ == "__main__":
    main()
