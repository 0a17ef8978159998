"""A CPU trial for seed 004's search: softmax regression on handwritten-digit-like images.

The seed's trial trained a Keras model on MNIST, downloaded at run time. This stand-in
needs nothing but the Python standard library and no network: it draws 8x8 images of
the digits 0-9 (fixed glyphs, shifted by a pixel and with noise, from a seeded random
generator), trains a softmax regression with minibatch SGD, and writes the test
accuracy and loss to the metrics file in the seed's format, which the Experiment's
filter reads:

    {metricName: accuracy, metricValue: 0.912000}

Usage (the seed's flags): python mnist_train.py --learning_rate=0.01 --batch_size=64
TRAIN_MAX_STEPS=N in the environment stops after N minibatch steps (quick runs).
"""

from __future__ import annotations

import argparse
import math
import os
import random

GLYPHS = {  # 8 rows of 8 pixels per digit
    0: ["..####..", ".#....#.", "#......#", "#......#", "#......#", "#......#", ".#....#.", "..####.."],
    1: ["...##...", "..###...", ".#.##...", "...##...", "...##...", "...##...", "...##...", ".######."],
    2: ["..####..", ".#....#.", "......#.", ".....#..", "....#...", "...#....", "..#.....", ".######."],
    3: [".#####..", "......#.", "......#.", "..####..", "......#.", "......#.", "......#.", ".#####.."],
    4: ["....##..", "...#.#..", "..#..#..", ".#...#..", "########", ".....#..", ".....#..", ".....#.."],
    5: [".######.", ".#......", ".#......", ".#####..", "......#.", "......#.", ".#....#.", "..####.."],
    6: ["..####..", ".#......", "#.......", "#.####..", "##....#.", "#......#", ".#....#.", "..####.."],
    7: [".######.", "......#.", ".....#..", "....#...", "...#....", "...#....", "...#....", "...#...."],
    8: ["..####..", ".#....#.", ".#....#.", "..####..", ".#....#.", "#......#", ".#....#.", "..####.."],
    9: ["..####..", ".#....#.", "#......#", ".#....##", "..####.#", ".......#", "......#.", "..####.."],
}
SIDE = 8
FEATURES = SIDE * SIDE
CLASSES = 10


def draw(digit: int, rng: random.Random) -> list[float]:
    """One noisy, shifted image of ``digit`` as 64 pixel values in [0, 1]."""
    dx, dy = rng.randint(-1, 1), rng.randint(-1, 1)
    pixels = []
    for row in range(SIDE):
        for col in range(SIDE):
            r, c = row - dy, col - dx
            on = 0 <= r < SIDE and 0 <= c < SIDE and GLYPHS[digit][r][c] == "#"
            value = (0.8 if on else 0.1) + rng.gauss(0, 0.2)
            pixels.append(min(1.0, max(0.0, value)))
    return pixels


def dataset(size: int, seed: int) -> list[tuple[list[float], int]]:
    rng = random.Random(seed)
    return [(draw(i % CLASSES, rng), i % CLASSES) for i in range(size)]


def probabilities(weights: list[list[float]], bias: list[float], x: list[float]) -> list[float]:
    logits = [sum(w * v for w, v in zip(weights[k], x)) + bias[k] for k in range(CLASSES)]
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


def evaluate(weights, bias, data) -> tuple[float, float]:
    correct, loss = 0, 0.0
    for x, y in data:
        p = probabilities(weights, bias, x)
        correct += max(range(CLASSES), key=p.__getitem__) == y
        loss -= math.log(max(p[y], 1e-12))
    return correct / len(data), loss / len(data)


def train(learning_rate: float, batch_size: int, epochs: int, max_steps: int | None) -> tuple[float, float]:
    train_set, test_set = dataset(2000, seed=1), dataset(500, seed=2)
    weights = [[0.0] * FEATURES for _ in range(CLASSES)]
    bias = [0.0] * CLASSES
    order = random.Random(3)
    steps = 0
    for epoch in range(epochs):
        order.shuffle(train_set)
        for start in range(0, len(train_set), batch_size):
            batch = train_set[start:start + batch_size]
            grad_w = [[0.0] * FEATURES for _ in range(CLASSES)]
            grad_b = [0.0] * CLASSES
            for x, y in batch:
                p = probabilities(weights, bias, x)
                for k in range(CLASSES):
                    delta = p[k] - (1.0 if k == y else 0.0)
                    grad_b[k] += delta
                    row = grad_w[k]
                    for i, v in enumerate(x):
                        row[i] += delta * v
            # the seed's Adam learning rates are small; plain SGD needs a larger step for the same range
            step = learning_rate * 300 / len(batch)
            for k in range(CLASSES):
                bias[k] -= step * grad_b[k]
                row, grad = weights[k], grad_w[k]
                for i in range(FEATURES):
                    row[i] -= step * grad[i]
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        accuracy, loss = evaluate(weights, bias, test_set)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f}, loss {loss:.4f}", flush=True)
        if max_steps is not None and steps >= max_steps:
            break
    return evaluate(weights, bias, test_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--metrics-file", default="/tmp/mnist.log")
    args = parser.parse_args()
    limit = os.environ.get("TRAIN_MAX_STEPS")
    accuracy, loss = train(args.learning_rate, args.batch_size, args.epochs, int(limit) if limit else None)
    print(f"\nTest learning_rate: {args.learning_rate}\nTest batch_size: {args.batch_size}\n"
          f"Test accuracy: {accuracy}", flush=True)
    with open(args.metrics_file, "w", encoding="utf-8") as log:  # the seed's format, read by the filter
        log.write(f"{{metricName: accuracy, metricValue: {accuracy:.6f}}}\n")
        log.write(f"{{metricName: loss, metricValue: {loss:.6f}}}\n")


if __name__ == "__main__":
    main()
