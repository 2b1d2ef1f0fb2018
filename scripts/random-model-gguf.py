#!/usr/bin/env python3
"""Writes a Llama GGUF with random weights of a chosen size and the tokenizer of another GGUF,
for benchmarks of a model size that does not exist yet: the indexer's throughput targets
assume the built-in model's size (d 256, 4 layers), e.g.

    scripts/random-model-gguf.py --tokenizer-from SmolLM2-135M-Instruct.Q4_1.gguf \\
        --embd 256 --layers 4 --heads 4 --kv-heads 4 --ff 704 /tmp/random-7m.gguf

The weights are normal(0, 0.02) in float32 (norms 1), the output tied to the embedding. Its
completions are noise; its speed is that of a trained model of the same shape.
Needs the `gguf` package (PyPI) and numpy.
"""
import argparse

import gguf
import numpy as np

TOKENIZER_KEYS = (
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_space_prefix")


def field_value(field):
    """A reader field as the Python value GGUFWriter.add_key_value takes."""
    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        items = [field.parts[i] for i in field.data]
        if field.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(x).decode("utf-8") for x in items], kind, field.types[1]
        return [x.tolist()[0] for x in items], kind, field.types[1]
    value = field.parts[field.data[0]]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(value).decode("utf-8"), kind, None
    return value.tolist()[0], kind, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer-from", required=True, help="a GGUF whose tokenizer to copy")
    ap.add_argument("--embd", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=704)
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("output")
    args = ap.parse_args()

    source = gguf.GGUFReader(args.tokenizer_from)
    n_vocab = len(source.fields["tokenizer.ggml.tokens"].data)
    head_dim = args.embd // args.heads
    writer = gguf.GGUFWriter(args.output, "llama")
    writer.add_name(f"random-d{args.embd}-l{args.layers}")
    writer.add_context_length(args.context)
    writer.add_embedding_length(args.embd)
    writer.add_block_count(args.layers)
    writer.add_feed_forward_length(args.ff)
    writer.add_head_count(args.heads)
    writer.add_head_count_kv(args.kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    for key in TOKENIZER_KEYS:
        if key in source.fields:
            value, kind, sub = field_value(source.fields[key])
            writer.add_key_value(key, value, kind, sub_type=sub)

    rng = np.random.default_rng(args.seed)

    def weight(*shape):  # numpy order: [out, in], as GGUF stores rows
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(n_vocab, args.embd))
    writer.add_tensor("output_norm.weight", np.ones(args.embd, np.float32))
    kv = args.kv_heads * head_dim
    for i in range(args.layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", np.ones(args.embd, np.float32))
        writer.add_tensor(b + "attn_q.weight", weight(args.embd, args.embd))
        writer.add_tensor(b + "attn_k.weight", weight(kv, args.embd))
        writer.add_tensor(b + "attn_v.weight", weight(kv, args.embd))
        writer.add_tensor(b + "attn_output.weight", weight(args.embd, args.embd))
        writer.add_tensor(b + "ffn_norm.weight", np.ones(args.embd, np.float32))
        writer.add_tensor(b + "ffn_gate.weight", weight(args.ff, args.embd))
        writer.add_tensor(b + "ffn_up.weight", weight(args.ff, args.embd))
        writer.add_tensor(b + "ffn_down.weight", weight(args.embd, args.ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
