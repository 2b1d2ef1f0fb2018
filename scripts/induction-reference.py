# How many steps a small model of mnemo's architecture needs to learn to copy from its
# context, measured apart from mnemo's trainer: the same Llama-style decoder (RoPE in the
# half-split layout, SwiGLU, RMSNorm, tied embeddings, grouped KV heads), AdamW (0.9, 0.95,
# weight decay 0.1 on matrices, clip 1.0, linear warm-up) in PyTorch, on windows of random
# token ids repeated (what `mnemo train --copy-lesson-rate` mixes in). Prints, every 100
# steps, the loss on 40 held-out windows' span and on its repeat at a distance that neither
# layout trains (37 random tokens, a span of 100, 55 others, the span again): when the
# repeat's falls below the first's, the model copies by content.
# Test tooling, not part of the build: needs PyPI's torch (CPU is enough).
# Usage: python3 scripts/induction-reference.py STEPS [WINDOWS_PER_STEP] [LR] [fixed|variable]
#        [plain|smear]
# "smear" adds a token shift at the input (x_t = e_t + s ⊙ e_{t-1}, s learned from zero): a
# key then carries the token before it, so one attention layer can find "what followed this
# token before" (Olsson et al. 2022's smeared keys). Environment: DEVICE (cpu), DIM (128),
# LAYERS (2), ALPHABET (4000 random ids), CONTEXT (512; the held-out layout scales with it),
# LESSON (CONTEXT: the variable layout's spans and gaps are those at 512 scaled by LESSON/512),
# SWITCH and LATER (from step SWITCH on, LESSON = LATER).
# Measured 2026-11-27 on the 2-core VM (d 128, 2 layers):
# - fixed (a span of 128 four times over), 8 windows a step, tested on that layout: 8.33 vs
#   8.12 nats at step 400 and 6.02 at step 500. That was not copying by content: mnemo's
#   built-in model trained on such windows copied them at 0.11 nats and a span repeated 100
#   positions on not at all (16.8 nats); it had learned to look back 128 positions.
# - variable (spans of 16-128 after gaps of 0-64), 16 windows a step: 8.30 vs 8.28 at step
#   1,100 (18 minutes): no copying yet.
# Measured 2026-11-27 on one H200 (scripts/induction-sweep.sh, variable, 32 windows a step,
# lr 2e-3, 200 s each, six side by side):
# - d 128, 2 layers: copying starts at about step 2,400 (40M tokens) plain, step 800 (13M)
#   with smear; by step 3,100 the repeat costs 0.19 and 0.08 nats (first reading 8.3).
# - the same with ALPHABET=512: later (smear: step 2,700).
# - d 256, 4 layers (the built-in model's shape): not started by step 1,600 (26M tokens):
#   8.29 vs 8.30 plain, 8.26 vs 8.30 with smear.
# Measured 2026-11-27 on the 2-core VM (d 128, 2 layers, smear, lr 2e-3, 8K tokens a step):
# - CONTEXT=128 (64 windows; lessons and held-out scaled to it, repeats within 48): copying
#   starts at step 400 (3.3M tokens): 8.42 vs 5.82, and 8.40 vs 2.66 at step 500.
# - CONTEXT=512 LESSON=128 (short lessons in full windows): the training loss falls (8.05 at
#   step 400) but the held-out repeat, 155 positions on, gains little (8.52 vs 8.40).
# - then SWITCH=401 LATER=512: 8.305 vs 8.246 at step 800, against 8.300 vs 8.283 at step 800
#   with LESSON=512 throughout: local copying carries over to long distances, slowly.
# - DIM=256 LAYERS=4 CONTEXT=128 (the built-in model's shape, 64 windows, 2.1 s a step):
#   8.331 vs 8.227 at step 300, 8.383 vs 4.584 at step 400 (3.3M tokens). In 512-token
#   windows this shape had not started by 26M tokens (the H200 sweep).
import json, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
steps = int(sys.argv[1]); bw = int(sys.argv[2]) if len(sys.argv) > 2 else 8
lr_peak = float(sys.argv[3]) if len(sys.argv) > 3 else 2e-3
layout = sys.argv[4] if len(sys.argv) > 4 else "variable"
smear = len(sys.argv) > 5 and sys.argv[5] == "smear"
import os
dev = torch.device(os.environ.get("DEVICE", "cpu"))
E, L = int(os.environ.get("DIM", 128)), int(os.environ.get("LAYERS", 2))
ALPHABET = int(os.environ.get("ALPHABET", 4000)); T = int(os.environ.get("CONTEXT", 512))
LESSON = int(os.environ.get("LESSON", T))
# A curriculum: from step SWITCH on, lessons at LATER's scale (spans and gaps of CONTEXT's).
SWITCH = int(os.environ.get("SWITCH", 0)); LATER = int(os.environ.get("LATER", T))
V = 8192; H, HKV = 4, 2; D = E // H; FF = int(E * 2.6875) // 8 * 8  # the built-in model's vocabulary

gen = torch.Generator().manual_seed(1)
def ids(n): return torch.randint(100, 100 + ALPHABET, (n,), generator=gen).tolist()
def fresh(n):
    # "fixed": 128 random tokens (ids 100..ALPHABET+99) four times over, then one more. A model can
    # copy those by looking back 128 positions, without matching any content.
    # "variable": a span of 16-128 random tokens repeated after gaps of 0-64 other random
    # tokens, so only matching the content finds what comes next.
    out = []
    for _ in range(n):
        if layout == "fixed":
            s = ids(128); out.append(((s * 5)[:T + 1], T)); continue
        # (spans and gaps scaled by LESSON, CONTEXT / 512 unless set)
        s = ids(int(torch.randint(max(4, 16 * LESSON // 512), 128 * LESSON // 512 + 1, (1,), generator=gen))); w = []
        while len(w) < T + 1: w += ids(int(torch.randint(0, 64 * LESSON // 512 + 1, (1,), generator=gen))) + s
        out.append((w[:T + 1], T))
    return out
G1, SPAN, G2 = 37 * T // 512, 100 * T // 512, 55 * T // 512  # scaled to CONTEXT
held = [(ids(G1), ids(SPAN), ids(G2)) for _ in range(40)]

def rope(n):
    inv = 1.0 / (10000 ** (torch.arange(0, D, 2).double() / D))
    a = torch.outer(torch.arange(n).double(), inv)
    return torch.cat([a.cos(), a.cos()], 1).float(), torch.cat([-a.sin(), a.sin()], 1).float()
COS, SIN = (t.to(dev) for t in rope(T))
def rot(x):  # x [B, T, h, D]
    half = D // 2
    sw = torch.cat([x[..., half:], x[..., :half]], -1)
    return x * COS[None, :x.shape[1], None] + sw * SIN[None, :x.shape[1], None]

class Norm(nn.Module):
    def __init__(s): super().__init__(); s.w = nn.Parameter(torch.ones(E))
    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * s.w
class Layer(nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = Norm(), Norm()
        s.q, s.k, s.v = nn.Linear(E, H * D, bias=False), nn.Linear(E, HKV * D, bias=False), nn.Linear(E, HKV * D, bias=False)
        s.o = nn.Linear(H * D, E, bias=False)
        s.g, s.u, s.d = nn.Linear(E, FF, bias=False), nn.Linear(E, FF, bias=False), nn.Linear(FF, E, bias=False)
    def forward(s, x):
        B, t, _ = x.shape; h = s.n1(x)
        q = rot(s.q(h).view(B, t, H, D)).transpose(1, 2)
        k = rot(s.k(h).view(B, t, HKV, D)).transpose(1, 2).repeat_interleave(H // HKV, 1)
        v = s.v(h).view(B, t, HKV, D).transpose(1, 2).repeat_interleave(H // HKV, 1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.o(o.transpose(1, 2).reshape(B, t, H * D))
        h = s.n2(x)
        return x + s.d(F.silu(s.g(h)) * s.u(h))
class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.smear = nn.Parameter(torch.zeros(E))
        s.emb = nn.Embedding(V, E); s.layers = nn.ModuleList(Layer() for _ in range(L)); s.norm = Norm()
        for n, p in s.named_parameters():
            if p.dim() >= 2: nn.init.normal_(p, 0, 0.02 / math.sqrt(2 * L) if n.endswith(("o.weight", "d.weight")) else 0.02)
    def forward(s, x):
        x = s.emb(x)
        if smear: x = torch.cat([x[:, :1], x[:, 1:] + s.smear * x[:, :-1]], 1)
        for l in s.layers: x = l(x)
        return s.norm(x) @ s.emb.weight.T

m = Model().to(dev)
decay = [p for p in m.parameters() if p.dim() >= 2]; nodecay = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0}], lr=lr_peak, betas=(0.9, 0.95))
def batch(ws):
    x = torch.tensor([w for w, _ in ws], device=dev); y = x[:, 1:].clone()
    for i, (_, v) in enumerate(ws): y[i, v:] = -100
    return x[:, :-1], y
def copy_eval():
    # held-out: 37 random tokens, a span of 100, 55 others, the span again (an offset that
    # neither layout trains; scaled by CONTEXT / 512); the loss on the span's first reading and on its repeat
    m.eval(); first = rep = 0.0; n = 0
    with torch.no_grad():
        for a, s, b in held:
            x = torch.tensor([a + s + b + s], device=dev); lp = F.cross_entropy(m(x[:, :-1])[0], x[0, 1:], reduction="none")
            first += lp[G1:G1 + SPAN - 1].mean().item(); rep += lp[G1 + SPAN + G2:].mean().item(); n += 1
    m.train(); return first / n, rep / n
tokens = 0; t0 = time.time()
warm = 100000
for step in range(1, steps + 1):
    if SWITCH and step == SWITCH: LESSON = LATER
    ws = fresh(bw)
    x, y = batch(ws)
    lr = lr_peak * min(1.0, (tokens + 1) / warm)
    for g in opt.param_groups: g["lr"] = lr
    loss = F.cross_entropy(m(x).flatten(0, 1), y.flatten(), ignore_index=-100)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    tokens += int((y != -100).sum())
    if step % 100 == 0 or step == steps:
        f, rp = copy_eval()
        print(json.dumps({"step": step, "tokens": tokens, "loss": round(loss.item(), 3), "first": round(f, 3), "repeat": round(rp, 3), "s": round(time.time() - t0, 1)}), flush=True)
