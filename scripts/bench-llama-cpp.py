#!/usr/bin/env python3
"""llama.cpp CPU speed baseline at batch 1 (through PyPI's llama-cpp-python), for comparison with mnemo.

For each GGUF given on the command line:
  * prefill: a 128-token prompt in ONE llama_decode call (logits for the last position only);
  * decode: 128 more tokens, one llama_decode call each (logits for that token), positions
    128..255. The tokens fed are fixed in advance (no sampling); after each call only
    llama_get_logits_ith(ctx, -1) is called (it synchronizes and returns a pointer, as a
    sampler would), so llama.cpp's own work plus two ctypes calls per token is timed.
Each measurement is the best of --runs (default 3) after one untimed warm-up run (the median
is reported too); the KV cache is cleared before every run. llama.cpp's own timer
(llama_perf_context: t_p_eval / t_eval) is reported alongside the wall clock of the Python
loop, so the Python overhead is visible. With 2 threads on 2 cores the numbers are very
sensitive to other load (loadavg_1min_before is recorded): run it on an idle machine.

    scripts/make-bench-venv.sh            # once: ~/.cache/mnemo/bench-venv with pinned llama-cpp-python + gguf
    ~/.cache/mnemo/bench-venv/bin/python scripts/bench-llama-cpp.py model1.gguf [model2.gguf ...] > bench.json

Output (stdout): {"llama_cpp_python", "llama_cpp_commit", "n_threads", ..., "results": [
  {"model", "n_params", "prefill_tokens_per_s", "decode_tokens_per_s", "decode_ms_per_token", ...}]}
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

try:
    import llama_cpp
except ImportError:  # pragma: no cover
    sys.exit("llama_cpp is not importable: run this with the venv from scripts/make-bench-venv.sh")

# The sdist's vendor/llama.cpp has no git metadata; the commit is from that release's CHANGELOG.md.
VENDORED_LLAMA_CPP = {
    "0.3.16": "4227c9be4268ac844921b90f31595f81236bd317",
}
KV_TYPES = {"f32": 0, "f16": 1}

# Filler text for the token stream; tokenized without special tokens and repeated as needed.
FILLER = (
    "template <typename T>\n"
    "static inline T clamp(const T & x, const T & lo, const T & hi) {\n"
    "    return x < lo ? lo : (hi < x ? hi : x);\n"
    "}\n\n"
    "def fibonacci(n):\n"
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        a, b = b, a + b\n"
    "    return a\n\n"
)


def token_stream(llm, n):
    ids = llm.tokenize(FILLER.encode("utf-8"), add_bos=False, special=False)
    out = []
    while len(out) < n:
        out.extend(ids)
    return out[:n]


def bench_model(path, args):
    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=args.n_ctx,
        n_batch=args.n_prompt,
        n_ubatch=args.n_prompt,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=0,
        type_k=KV_TYPES[args.kv_type],
        type_v=KV_TYPES[args.kv_type],
        flash_attn=False,
        logits_all=False,
        verbose=False,
    )
    ctx = llm.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    n_params = int(llama_cpp.llama_model_n_params(llm.model))
    toks = token_stream(llm, args.n_prompt + args.n_gen)
    prompt = (llama_cpp.llama_token * args.n_prompt)(*toks[: args.n_prompt])
    one = (llama_cpp.llama_token * 1)()
    # llama_batch_get_one: positions follow the KV cache; logits only for the last token.
    prompt_batch = llama_cpp.llama_batch_get_one(prompt, args.n_prompt)
    one_batch = llama_cpp.llama_batch_get_one(one, 1)
    gen = toks[args.n_prompt:]

    def run():
        llama_cpp.llama_memory_clear(mem, True)
        llama_cpp.llama_perf_context_reset(ctx)
        t0 = time.perf_counter()
        if llama_cpp.llama_decode(ctx, prompt_batch) != 0:
            raise RuntimeError("llama_decode failed (prefill)")
        llama_cpp.llama_get_logits_ith(ctx, -1)  # synchronizes, as reading the logits would
        t1 = time.perf_counter()
        for t in gen:
            one[0] = t
            if llama_cpp.llama_decode(ctx, one_batch) != 0:
                raise RuntimeError("llama_decode failed (decode)")
            llama_cpp.llama_get_logits_ith(ctx, -1)
        t2 = time.perf_counter()
        perf = llama_cpp.llama_perf_context(ctx)
        return t1 - t0, t2 - t1, perf.t_p_eval_ms / 1e3, perf.n_p_eval, perf.t_eval_ms / 1e3, perf.n_eval

    run()  # warm-up
    runs = [run() for _ in range(args.runs)]
    prefill = min(r[0] for r in runs)
    decode = min(r[1] for r in runs)
    prefill_perf = min(r[2] for r in runs)
    decode_perf = min(r[4] for r in runs)
    n_p_eval, n_eval = runs[0][3], runs[0][5]
    del llm
    return {
        "model": os.path.basename(path),
        "n_params": n_params,
        "prefill_tokens_per_s": round(args.n_prompt / prefill, 1),
        "decode_tokens_per_s": round(args.n_gen / decode, 1),
        "decode_ms_per_token": round(decode * 1e3 / args.n_gen, 4),
        "prefill_ms": round(prefill * 1e3, 3),
        "median": {
            "prefill_tokens_per_s": round(args.n_prompt / statistics.median(r[0] for r in runs), 1),
            "decode_tokens_per_s": round(args.n_gen / statistics.median(r[1] for r in runs), 1),
        },
        "llama_perf": {
            "prefill_tokens_per_s": round(n_p_eval / prefill_perf, 1) if prefill_perf else None,
            "decode_tokens_per_s": round(n_eval / decode_perf, 1) if decode_perf else None,
            "n_p_eval": n_p_eval,
            "n_eval": n_eval,
        },
        "all_runs_s": [[round(r[0], 6), round(r[1], 6)] for r in runs],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="GGUF files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-prompt", type=int, default=128)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--n-ctx", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kv-type", choices=sorted(KV_TYPES), default="f16",
                    help="KV cache type (llama.cpp's default is f16)")
    args = ap.parse_args()
    if args.n_prompt + args.n_gen > args.n_ctx:
        ap.error("--n-prompt + --n-gen must fit --n-ctx")
    try:
        load_before = os.getloadavg()[0]
    except OSError:
        load_before = None
    llama_cpp.llama_backend_init()
    version = llama_cpp.__version__
    results = [bench_model(m, args) for m in args.models]
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    json.dump({
        "llama_cpp_python": version,
        "llama_cpp_commit": VENDORED_LLAMA_CPP.get(version, "unknown"),
        "n_threads": args.threads,
        "n_prompt": args.n_prompt,
        "n_gen": args.n_gen,
        "n_ctx": args.n_ctx,
        "kv_cache_type": args.kv_type,
        "flash_attn": False,
        "runs": args.runs,
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_1min_before": load_before,
        "loadavg_1min_after": load,
        "results": results,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
