#!/usr/bin/env python3
"""Writes the ~30M-parameter random Llama of tests/bench/model_bench.cpp (`random_30m()`) as an
F32 GGUF, so that llama.cpp and mnemo can be benchmarked on the same weights.

    ~/.cache/mnemo/bench-venv/bin/python scripts/make-random-llama.py OUT.gguf

The config is exactly model_bench's: n_vocab 8192, n_embd 512, 8 layers, 8 heads (4 KV heads)
of 64, n_ff 1408, context 2048, RoPE base 10000, RMS eps 1e-5, output tied to the embedding
(no output.weight). Weights are drawn from N(0, 1/in) like RandomCheckpoint's (numpy's
default_rng(30), so not the same numbers as model_bench's in-process "random-30m": only the
same distribution), norms are 1. Same seed, same file.

Both runtimes need a tokenizer they accept and that tokenizes any text (the llama.cpp side
tokenizes a filler text): a GPT-2 byte-level BPE ("gpt2" / pre "gpt-2") whose first 256 tokens
are the byte characters in bytes_to_unicode order (id == byte value), then the merges of a
small BPE trained here on a built-in snippet of code, then "<unused_N>" tokens (type UNUSED)
up to the vocabulary size, and "<|endoftext|>" (CONTROL) last as BOS/EOS. The merges only make
the token stream look like a real one; speed does not depend on them.

Overwrites OUT; prints its path.
"""

import re
import sys

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

# tests/bench/model_bench.cpp random_30m()
N_VOCAB = 8192
N_EMBD = 512
N_LAYER = 8
N_HEAD = 8
N_HEAD_KV = 4
HEAD_DIM = 64
N_FF = 1408
N_CTX = 2048
ROPE_BASE = 10000.0
RMS_EPS = 1e-5
SEED = 30
N_MERGES = 256

# Training text for the toy BPE (only the merges depend on it).
CORPUS = """\
#include <algorithm>
#include <string>
#include <vector>

template <typename T>
static inline T clamp(const T & x, const T & lo, const T & hi) {
    return x < lo ? lo : (hi < x ? hi : x);
}

int main(int argc, char ** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    for (const std::string & arg : args) {
        if (arg == "--help") {
            return 0;
        }
    }
    return static_cast<int>(args.size());
}

def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

class Counter:
    def __init__(self, start=0):
        self.value = start

    def increment(self, step=1):
        self.value += step
        return self.value

The quick brown fox jumps over the lazy dog. This is a test of the tokenizer, and
the numbers 12345 and 67890 are in it too.
"""

# GPT-2's pre-tokenizer, with Python's re standing in for the \\p{L} / \\p{N} classes.
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """GPT-2's byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def train_bpe(text, byte_chars, n_merges):
    """Plain BPE over the pre-tokenized words; ties broken by the pair, so it is deterministic."""
    counts = {}
    for word in PRETOKENIZE.findall(text):
        symbols = tuple(byte_chars[b] for b in word.encode("utf-8"))
        counts[symbols] = counts.get(symbols, 0) + 1
    merges = []
    while len(merges) < n_merges:
        pairs = {}
        for symbols, count in counts.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] = pairs.get(pair, 0) + count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        merged = {}
        for symbols, count in counts.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        counts = merged
    return merges


def vocabulary():
    byte_chars = bytes_to_unicode()
    tokens = [byte_chars[b] for b in range(256)]  # id == byte value
    types = [TokenType.NORMAL] * 256
    merges = train_bpe(CORPUS, byte_chars, N_MERGES)
    seen = set(tokens)
    for left, right in merges:
        if left + right not in seen:  # two merges may make the same string
            seen.add(left + right)
            tokens.append(left + right)
            types.append(TokenType.NORMAL)
    n_unused = N_VOCAB - 1 - len(tokens)
    tokens += [f"<unused_{i}>" for i in range(n_unused)]
    types += [TokenType.UNUSED] * n_unused
    tokens.append("<|endoftext|>")
    types.append(TokenType.CONTROL)
    assert len(tokens) == N_VOCAB and len(set(tokens)) == N_VOCAB
    return tokens, types, [f"{left} {right}" for left, right in merges]


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT.gguf")
    path = sys.argv[1]
    rng = np.random.default_rng(SEED)

    def randn(rows, cols):
        # numpy (rows, cols) = PyTorch's (out, in) = GGUF ne [in, out]; N(0, 1/in).
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.float32(np.sqrt(cols))).astype(np.float32)

    w = GGUFWriter(path, "llama")
    w.add_name("random-30m")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_vocab_size(N_VOCAB)
    w.add_file_type(LlamaFileType.ALL_F32)

    tokens, types, merges = vocabulary()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(N_VOCAB - 1)
    w.add_eos_token_id(N_VOCAB - 1)
    w.add_add_bos_token(False)

    q, kv = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    ones = np.ones(N_EMBD, dtype=np.float32)
    # Drawn in a fixed order (embedding, then layer by layer): one seed, one file.
    w.add_tensor("token_embd.weight", randn(N_VOCAB, N_EMBD))
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", randn(q, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_k.weight", randn(kv, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_v.weight", randn(kv, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_output.weight", randn(N_EMBD, q))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", randn(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_up.weight", randn(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_down.weight", randn(N_EMBD, N_FF))
    w.add_tensor("output_norm.weight", ones)  # tied output: no output.weight

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(path)


if __name__ == "__main__":
    main()
