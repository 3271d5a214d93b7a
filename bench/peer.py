"""The PyTorch peer of sextant's benchmark: the same three models, written as a researcher writes
them (torch.nn modules, nn.LSTM, torch.optim.AdamW, float32), timed the same way.

Run with Debian's interpreter, which sees python3-torch (the first python3 on PATH may not):

    /usr/bin/python3 bench/peer.py --info --threads 2
    /usr/bin/python3 bench/peer.py --config '{"kind": "gpt", ...}' --model gpt-small \
        --threads 1 --steps 5 --warmup 2 --adamw '{"lr": 0.001, ...}'

bench/run.ts passes the model configs from bench/config.ts and sets OMP_NUM_THREADS,
MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to --threads in this process's environment (OpenBLAS
keeps its own thread pool, which torch.set_num_threads does not size). Each run prints one JSON
line with the fields of bench/stats.ts's StepResult.

Dimension legend: B batch, T time, C channels, V vocabulary, H heads, D head size.
"""

import argparse
import json
import math
import os
import re
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- Memory: the method of bench/memory.ts (baseline VmRSS, reset VmHWM, read VmHWM).


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakTracker:
    def __init__(self):
        self.method = "sampled"
        self.sampled_max = 0.0

    def start(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "hwm-reset"
        except OSError:
            self.method = "sampled"
        self.sampled_max = status_mib("VmRSS")

    def sample(self):
        if self.method == "hwm-reset":
            return  # VmHWM sees everything; reading /proc each phase would cost step time
        self.sampled_max = max(self.sampled_max, status_mib("VmRSS"))

    def finish(self):
        self.sample()
        if self.method == "hwm-reset":
            return status_mib("VmHWM")
        return self.sampled_max


# ---- GPT-2 (pre-LN, tanh GELU, tied embeddings, learned positions), attention written out.


class CausalSelfAttention(nn.Module):
    def __init__(self, C, H, T):
        super().__init__()
        self.n_head = H
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        B, T, C = x.size()
        H = self.n_head
        D = C // H
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x [B, T, C]
        q = q.view(B, T, H, D).transpose(1, 2)  # [B, H, T, D]
        k = k.view(B, T, H, D).transpose(1, 2)  # [B, H, T, D]
        v = v.view(B, T, H, D).transpose(1, 2)  # [B, H, T, D]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))  # [B, H, T, T]
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)  # [B, H, T, T]
        y = att @ v  # [B, H, T, D]
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # [B, T, C]
        return self.c_proj(y)  # [B, T, C]


class MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))  # [B, T, C]


class Block(nn.Module):
    def __init__(self, C, H, T):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = CausalSelfAttention(C, H, T)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # [B, T, C]
        x = x + self.mlp(self.ln_2(x))  # [B, T, C]
        return x


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        V, C, H, T = cfg["vocab"], cfg["width"], cfg["heads"], cfg["context"]
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, H, T) for _ in range(cfg["layers"])])
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        B, T = idx.size()
        pos = torch.arange(T, dtype=torch.long)  # [T]
        x = self.wte(idx) + self.wpe(pos)  # [B, T, C]
        for block in self.h:
            x = block(x)  # [B, T, C]
        logits = self.lm_head(self.ln_f(x))  # [B, T, V]
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# ---- LSTM language model


class LstmLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embedding = nn.Embedding(cfg["vocab"], cfg["embedding"])
        self.lstm = nn.LSTM(
            cfg["embedding"], cfg["hidden"], num_layers=cfg["layers"], batch_first=True
        )
        self.head = nn.Linear(cfg["hidden"], cfg["vocab"])

    def forward(self, idx, targets):
        x = self.embedding(idx)  # [B, T, E]
        out, _ = self.lstm(x)  # [B, T, H]
        logits = self.head(out)  # [B, T, V]
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# ---- The measurement


def build_info(threads):
    """The peer's build: version, BLAS line, threading at `threads`, and the BLAS it loads."""
    torch.set_num_threads(threads)
    a = torch.randn(256, 256)
    (a @ a).sum().item()  # loads the BLAS that matmul really uses
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    capability = re.search(r"CPU capability usage: (\S+)", config)
    libblas = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    return {
        "torch": torch.__version__,
        "threads": threads,
        "blasInfo": f"BLAS_INFO={blas.group(1) if blas else '?'}",
        "blasLibraries": [os.path.realpath(p) for p in libs],
        "libblasAlternative": os.path.realpath(libblas) if os.path.exists(libblas) else None,
        "parallelInfo": torch.__config__.parallel_info(),
        "cpuCapability": capability.group(1) if capability else "?",
    }


def run(args):
    cfg = json.loads(args.config)
    hypers = json.loads(args.adamw)
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    a = torch.randn(256, 256)
    (a @ a).sum().item()  # BLAS initialised before the baseline, as on the sextant side
    B, T, V = cfg["batch"], cfg["context"], cfg["vocab"]
    idx = torch.randint(0, V, (B, T))  # [B, T]
    targets = torch.randint(0, V, (B, T))  # [B, T]

    baseline = status_mib("VmRSS")
    model = GPT(cfg) if cfg["kind"] == "gpt" else LstmLM(cfg)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=hypers["lr"],
        betas=tuple(hypers["betas"]),
        eps=hypers["eps"],
        weight_decay=hypers["weightDecay"],
        foreach=args.foreach,
    )
    tracker = PeakTracker()

    def step():
        # One full step: clear gradients, forward with the loss, backward, AdamW.
        optimizer.zero_grad(set_to_none=True)
        loss = model(idx, targets)
        tracker.sample()
        loss.backward()
        tracker.sample()
        optimizer.step()
        tracker.sample()
        return loss.item()

    loss_first = float("nan")
    for i in range(args.warmup):
        loss = step()
        if i == 0:
            loss_first = loss
    tracker.start()
    step_ms = []
    loss_last = float("nan")
    for _ in range(args.steps):
        start = time.perf_counter()
        loss_last = step()
        step_ms.append((time.perf_counter() - start) * 1e3)
        if math.isnan(loss_first):
            loss_first = loss_last
    peak = tracker.finish()
    median_ms = statistics.median(step_ms)
    return {
        "side": "peer",
        "model": args.model,
        "threads": args.threads,
        "torchThreads": torch.get_num_threads(),
        "warmup": args.warmup,
        "stepMs": step_ms,
        "medianStepMs": median_ms,
        "tokensPerSec": B * T / (median_ms / 1e3),
        "baselineMiB": baseline,
        "peakMiB": peak,
        "memoryMiB": peak - baseline,
        "memoryMethod": tracker.method,
        "parameters": sum(p.numel() for p in model.parameters()),
        "lossFirst": loss_first,
        "lossLast": loss_last,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--info", action="store_true", help="print the build configuration")
    parser.add_argument("--config", help="model config as JSON (from bench/config.ts)")
    parser.add_argument("--model", default="?", help="model name, echoed in the result")
    parser.add_argument("--adamw", default="{}", help="AdamW hyperparameters as JSON")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--foreach",
        type=lambda s: s == "true",
        default=None,
        help="AdamW's multi-tensor path (true/false); default: torch's choice",
    )
    args = parser.parse_args()
    if args.info:
        print(json.dumps(build_info(args.threads)))
        return
    if args.config is None:
        parser.error("--config is required unless --info is given")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
