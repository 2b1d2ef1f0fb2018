#!/usr/bin/env python3
"""Fits the weights of the names' prior (server/names/cursor_names.h, NamePriorWeights) to the
cross-file uses of training projects.

    mnemo eval TRAINING-PROJECTS... --conditions symbolic --features features.jsonl
    scripts/fit-name-prior.py features.jsonl [--check heldout-features.jsonl]

Each line of a features file is one case: the likeliest names at its cursor by the current
prior and an even sample of the rest (each sampled name standing for `weight` names), with
the signals the prior weighs and which one the code really has there. The fit is a
conditional logit (the answer's softmax over the case's names, the sampled ones counted
`weight` times), one set of weights for member accesses and one for the other sites, with a
small L2 penalty, by Adam. It prints the weights as JSON and the prior's top-1 with them,
on the fitted cases and on --check's (never fitted on: the held-out projects).

Python's standard library only.
"""
import argparse
import json
import math
import sys

FEATURES = ["document_uses", "recency", "used_before", "repository_uses", "file_scope",
            "compiler"]
# CompletionItemKind's values (server/completion/completion_engine.h) that get a weight of their own; a
# keyword gets none (its prior is 0: the model knows keywords).
KINDS = {1: "keyword", 2: "identifier", 3: "field", 4: "function", 5: "type", 6: "namespace",
         7: "macro"}
KIND_FEATURES = ["kind_" + KINDS[k] for k in (3, 4, 5, 6, 7)]
# At a member access after a name (`sbi->`): the member's uses after that same name
# (indexer/member_uses.h). Its share of them was tried too and fitted no better.
RECEIVER_FEATURES = ["receiver_uses"]
NAMES = FEATURES + KIND_FEATURES + RECEIVER_FEATURES


def features(c):
    lines = c["lines_since_use"]
    f = [math.log1p(c["document_uses"]),
         0.0 if lines < 0 else 1.0 / (1.0 + lines / 8.0),
         0.0 if lines < 0 else 1.0,
         math.log1p(c["repository_uses"]),
         1.0 if c["file_scope"] else 0.0,
         1.0 if c["compiler"] else 0.0]
    f += [1.0 if KINDS.get(c["kind"]) == name[5:] else 0.0 for name in KIND_FEATURES]
    f += [math.log1p(c.get("receiver_uses", 0))]
    if c["kind"] == 1:  # a keyword: no prior at all
        f = [0.0] * len(f)
    return f


def load(path):
    cases = {"member": [], "other": []}
    for line in open(path):
        case = json.loads(line)
        if not case["answer_in_names"]:
            continue
        rows = [(features(c), math.log(c["weight"]), c["answer"]) for c in case["candidates"]]
        cases["member" if case["site"] == "member" else "other"].append(rows)
    return cases


def log_likelihood(w, rows):
    scores = [sum(wi * fi for wi, fi in zip(w, f)) for f, _, _ in rows]
    top = max(s + lw for s, (_, lw, _) in zip(scores, rows))
    z = top + math.log(sum(math.exp(s + lw - top) for s, (_, lw, _) in zip(scores, rows)))
    answer = next(s for s, (_, _, a) in zip(scores, rows) if a)
    return answer - z, scores, z


def fit(cases, l2=1e-3, epochs=300, lr=0.05):
    n = len(NAMES)
    w = [0.0] * n
    m = [0.0] * n
    v = [0.0] * n
    for epoch in range(1, epochs + 1):
        grad = [-2 * l2 * len(cases) * wi for wi in w]
        total = 0.0
        for rows in cases:
            ll, scores, z = log_likelihood(w, rows)
            total += ll
            for s, (f, lw, a) in zip(scores, rows):
                p = math.exp(s + lw - z)
                for i in range(n):
                    grad[i] += ((1.0 if a else 0.0) - p) * f[i]
        for i in range(n):  # Adam, ascending
            g = grad[i] / len(cases)
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            w[i] += lr * (m[i] / (1 - 0.9 ** epoch)) / (math.sqrt(v[i] / (1 - 0.999 ** epoch)) + 1e-8)
        if epoch % 50 == 0:
            print(f"  epoch {epoch}: mean log-likelihood {total / len(cases):.4f}", file=sys.stderr)
    return w


def top1(w, cases):
    hits = 0
    for rows in cases:
        scores = [sum(wi * fi for wi, fi in zip(w, f)) for f, _, _ in rows]
        best = max(range(len(rows)), key=lambda i: (scores[i], -i))
        hits += 1 if rows[best][2] else 0
    return hits / max(1, len(cases))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features")
    parser.add_argument("--check", help="cases to report the fit's top-1 on, not fitted")
    args = parser.parse_args()
    train = load(args.features)
    check = load(args.check) if args.check else None
    out = {}
    for site in ("member", "other"):
        print(f"{site}: {len(train[site])} cases", file=sys.stderr)
        w = fit(train[site])
        out[site] = {name: round(value, 3) for name, value in zip(NAMES, w)}
        report = {"fitted_top1": round(100 * top1(w, train[site]), 1),
                  "fitted_cases": len(train[site])}
        if check:
            report["check_top1"] = round(100 * top1(w, check[site]), 1)
            report["check_cases"] = len(check[site])
        out[site + "_report"] = report
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
