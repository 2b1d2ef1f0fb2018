#!/usr/bin/env python3
"""Plots a `mnemo train` run's loss.jsonl (training loss per step, against tokens trained)
as a PNG, with the held-out bits per byte of heldout.json when the run has one.

    scripts/plot-loss.py RUN/loss.jsonl docs/loss.png [--heldout RUN/heldout.json]
                         [--tokens-before N]

A run started from an earlier export's weights (`mnemo train --init-from`) counts its
tokens from zero; --tokens-before N places it after the N tokens the weights had seen.

Test tooling (PyPI's matplotlib); mnemo never runs it.
"""
import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--heldout", type=Path)
    parser.add_argument("--tokens-before", type=int, default=0,
                        help="tokens the starting weights were trained on (--init-from)")
    parser.add_argument("--smooth", type=int, default=20, help="steps in the moving average")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    # A resumed run repeats the steps after its checkpoint: the last record of a step wins.
    by_step = {row["step"]: row for row in rows}
    steps = sorted(by_step)
    before = args.tokens_before
    tokens = [(before + by_step[s]["tokens"]) / 1e6 for s in steps]
    loss = [by_step[s]["loss"] for s in steps]
    smooth = [sum(loss[max(0, i - args.smooth + 1):i + 1]) / len(loss[max(0, i - args.smooth + 1):i + 1])
              for i in range(len(loss))]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(tokens, loss, color="#bbbbbb", linewidth=0.8, label="training loss per step")
    ax.plot(tokens, smooth, color="#1f77b4", linewidth=1.6, label=f"mean of {args.smooth} steps")
    if before:
        ax.axvline(before / 1e6, color="#888888", linestyle="--", linewidth=1,
                   label=f"started from weights trained on {before / 1e6:.2f}M tokens")
    if args.heldout:
        report = json.loads(args.heldout.read_text())
        for key, color in (("with_memory", "#2ca02c"), ("without_memory", "#d62728")):
            h = report[key]
            nats_per_token = h["bits_per_byte"] * h["bytes"] / h["tokens"] * math.log(2)
            ax.scatter([(before + report["trained_tokens"]) / 1e6], [nats_per_token], color=color, zorder=3,
                       label=f"held out, {key.replace('_', ' ')}: {h['bits_per_byte']:.3f} bits/byte")
    ax.set_xlabel("tokens trained (millions)")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title("mnemo's built-in model")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"{args.png}: {len(steps)} steps, {tokens[-1]:.2f}M tokens, last loss {smooth[-1]:.3f}")


if __name__ == "__main__":
    main()
