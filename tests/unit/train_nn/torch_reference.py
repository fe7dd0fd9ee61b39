#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reference trainer's recipe in PyTorch (training.md §1, curia-model.md §5.3), for
attention_head_test: the attention module built of torch.nn.MultiheadAttention and LayerNorm,
trained with torch.optim.SGD (momentum), CosineAnnealingLR stepped per step and clip_grad_norm_,
from the initial weights, tokens and case orders the test wrote.

usage: torch_reference.py IN.safetensors OUT.safetensors '{"lr": .., "batch": .., "epochs": ..,
       "blocks": ["self", "cross"], "regression": false, "momentum": 0.9, "max_grad_norm": 1.0}' [IN OUT OPT ...]
(several runs in one process: torch takes seconds to import)
IN holds the head's tensors under their published names, "tokens" [sum T, D], "offsets" [N + 1],
"labels" int64 [N] or "targets" float32 [N], "orders" int64 [epochs, N]. OUT gets the trained
tensors and "losses" [steps]. Run with /usr/bin/python3 (torch 1.13)."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "I64": np.int64, "F64": np.float64}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start:base + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = tensors[name].detach().cpu().contiguous().numpy()
        code = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.float64): "F64"}[array.dtype]
        blob = array.tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(dim, 1, batch_first=True)
        self.norm = nn.LayerNorm(dim)


class SelfAttention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.attention = Attention(dim)

    def forward(self, x):
        real = (x != 0).any(-1)
        mask = real[:, :, None] != real[:, None, :]  # real <-> real, padding <-> padding
        a, _ = self.attention.multihead_attn(x, x, x, attn_mask=mask)
        return self.attention.norm(x + a)


class CrossAttention(nn.Module):
    def __init__(self, dim, queries):
        super().__init__()
        self.attention = Attention(dim)
        self.learned_queries = nn.Parameter(torch.randn(queries, dim))

    def forward(self, x):
        real = (x != 0).any(-1)
        q = self.learned_queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        mask = (~real)[:, None, :].expand(x.shape[0], q.shape[1], x.shape[1])
        a, _ = self.attention.multihead_attn(q, x, x, attn_mask=mask)
        return self.attention.norm(q + a)


class AttentionModule(nn.Module):
    def __init__(self, dim, queries, blocks):
        super().__init__()
        self.blocks = blocks
        if "self" in blocks:
            self.self_attention = SelfAttention(dim)
        if "cross" in blocks:
            self.cross_attention = CrossAttention(dim, queries)

    def forward(self, x):
        for b in self.blocks:
            x = getattr(self, b + "_attention")(x)  # validity recomputed from x in each block
        return x.mean(1)


class Head(nn.Module):
    def __init__(self, dim, queries, classes, blocks):
        super().__init__()
        self.attention_module = AttentionModule(dim, queries, blocks)
        self.classifier = nn.Linear(dim, classes)

    def forward(self, x):
        return self.classifier(self.attention_module(x))


def train(in_path, out_path, opt_text):
    tensors = read_safetensors(in_path)
    opt = json.loads(opt_text)
    tokens, offsets, orders = tensors["tokens"], tensors["offsets"].tolist(), tensors["orders"]
    regression = opt["regression"]
    y = tensors["targets"] if regression else tensors["labels"]
    dim = tokens.shape[1]
    classes = tensors["classifier.weight"].shape[0]
    queries = tensors["attention_module.cross_attention.learned_queries"].shape[0] if "cross" in opt["blocks"] else 1
    torch.manual_seed(0)
    head = Head(dim, queries, classes, opt["blocks"])
    state = {k: v for k, v in tensors.items() if k.startswith(("attention_module.", "classifier."))}
    head.load_state_dict(state, strict=True)
    head.train()
    n = len(offsets) - 1
    batch, epochs = opt["batch"], opt["epochs"]
    optimiser = torch.optim.SGD(head.parameters(), lr=opt["lr"] * batch / 256, momentum=opt["momentum"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=(n // batch) * epochs)
    losses = []
    for epoch in range(epochs):
        order = orders[epoch].tolist()
        for start in range(0, n, batch):
            cases = order[start:start + batch]
            longest = max(offsets[i + 1] - offsets[i] for i in cases)
            x = torch.zeros(len(cases), longest, dim)
            for row, i in enumerate(cases):
                x[row, :offsets[i + 1] - offsets[i]] = tokens[offsets[i]:offsets[i + 1]]
            logits = head(x)
            if regression:
                loss = nn.MSELoss()(logits.squeeze(-1), y[cases])
            else:
                loss = nn.CrossEntropyLoss()(logits, y[cases])
            loss.backward()
            nn.utils.clip_grad_norm_(head.parameters(), opt["max_grad_norm"])
            optimiser.step()
            schedule.step()
            head.zero_grad()
            losses.append(loss.item())
    out = {k: v for k, v in head.state_dict().items()}
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    write_safetensors(out_path, out)


def main():
    args = sys.argv[1:]
    if not args or len(args) % 3:
        sys.exit(__doc__)
    for i in range(0, len(args), 3):
        train(*args[i:i + 3])


if __name__ == "__main__":
    main()
