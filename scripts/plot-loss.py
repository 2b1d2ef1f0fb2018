#!/usr/bin/env python3
"""Plots `mnemo train` runs' loss.jsonl (training loss per step, against tokens trained)
as a PNG, with the held-out bits per byte of heldout.json when there is one.

    scripts/plot-loss.py RUN/loss.jsonl [RUN2/loss.jsonl ...] docs/loss.png
                         [--heldout LAST_RUN/heldout.json] [--tokens-before N]

Several logs are runs that each started from the previous one's exported weights
(`mnemo train --init-from`): each counts its tokens from zero and is placed after the
tokens of those before it, with a line where it starts. --tokens-before N places the first
after N tokens that its own starting weights had seen (a run whose log is not at hand).

Test tooling (PyPI's matplotlib); mnemo never runs it.
"""
import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_run(log: Path) -> list:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    # A resumed run repeats the steps after its checkpoint: the last record of a step wins.
    by_step = {row["step"]: row for row in rows}
    return [by_step[s] for s in sorted(by_step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", type=Path, nargs="+", help="loss.jsonl of each run, then the PNG")
    parser.add_argument("--heldout", type=Path, help="the last run's heldout.json")
    parser.add_argument("--tokens-before", type=int, default=0,
                        help="tokens the first run's starting weights were trained on")
    parser.add_argument("--smooth", type=int, default=20, help="steps in the moving average")
    args = parser.parse_args()
    if len(args.paths) < 2:
        parser.error("give one loss.jsonl or more, then the PNG")
    *logs, png = args.paths
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    before = args.tokens_before
    tokens, loss, starts = [], [], []
    for log in logs:
        rows = read_run(log)
        if before:
            starts.append(before)
        tokens += [(before + row["tokens"]) / 1e6 for row in rows]
        loss += [row["loss"] for row in rows]
        before += rows[-1]["tokens"]
    smooth = [sum(loss[max(0, i - args.smooth + 1):i + 1]) / len(loss[max(0, i - args.smooth + 1):i + 1])
              for i in range(len(loss))]
    ax.plot(tokens, loss, color="#bbbbbb", linewidth=0.8, label="training loss per step")
    ax.plot(tokens, smooth, color="#1f77b4", linewidth=1.6, label=f"mean of {args.smooth} steps")
    for i, start in enumerate(starts):
        ax.axvline(start / 1e6, color="#888888", linestyle="--", linewidth=1,
                   label="a run starts from the last one's weights" if i == 0 else None)
    if args.heldout:
        report = json.loads(args.heldout.read_text())
        for key, color in (("with_memory", "#2ca02c"), ("without_memory", "#d62728")):
            h = report[key]
            nats_per_token = h["bits_per_byte"] * h["bytes"] / h["tokens"] * math.log(2)
            ax.scatter([before / 1e6], [nats_per_token], color=color, zorder=3,
                       label=f"held out, {key.replace('_', ' ')}: {h['bits_per_byte']:.3f} bits/byte")
    ax.set_xlabel("tokens trained (millions)")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title("mnemo's built-in model")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    print(f"{png}: {len(loss)} steps of {len(logs)} runs, {before / 1e6:.2f}M tokens, "
          f"last loss {smooth[-1]:.3f}")


if __name__ == "__main__":
    main()
