#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes interpolation.safetensors: backbone outputs when the patch grid differs from the one the
position embeddings were trained for (the shared golden set has no such case).

The reference is an independent functional re-implementation of transformers' Dinov2Model forward
(eager attention, at the commit the shared golden files were made with) in PyTorch. Before writing
anything it must reproduce the shared golden outputs of ../shared/golden/backbone_swiglu to 1e-5,
so the only new arithmetic it vouches for is the position-embedding interpolation:

    patch grid of position embeddings (sqrt(N) x sqrt(N)) -> F.interpolate(scale_factor=
    ((h + 0.1) / sqrt(N), (w + 0.1) / sqrt(N)), mode="bicubic", align_corners=False) in float32,
    where h, w = height // patch, width // patch; used as is when h*w == N and height == width.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tests/golden/make_interpolation_golden.py
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("CURIA_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
MODEL = os.path.join(SHARED, "golden", "backbone_swiglu")

DTYPES = {"F32": np.float32, "F64": np.float64, "I16": np.int16, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).copy())
    return out


WRITE_DTYPES = {"F32": np.float32, "U8": np.uint8}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> torch tensor (written as F32) or (dtype code, array-like)."""
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        dtype, value = tensors[name] if isinstance(tensors[name], tuple) else ("F32", tensors[name].numpy())
        a = np.ascontiguousarray(np.asarray(value).astype(WRITE_DTYPES[dtype]))
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def position_embeddings(pos, height, width, patch):
    n = pos.shape[1] - 1
    h, w = height // patch, width // patch
    if n == h * w and height == width:
        return pos
    side = int(math.sqrt(n))
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    hh, ww = h + 0.1, w + 0.1
    grid = F.interpolate(grid.float(), scale_factor=(float(hh / math.sqrt(n)), float(ww / math.sqrt(n))),
                         mode="bicubic", align_corners=False)
    assert grid.shape[-2:] == (h, w), grid.shape
    grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)
    return torch.cat([pos[:, :1], grid], dim=1)


def forward(weights, cfg, x):
    d, heads, patch, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["patch_size"], cfg["layer_norm_eps"]
    hd = d // heads
    emb = F.conv2d(x, weights["embeddings.patch_embeddings.projection.weight"],
                   weights["embeddings.patch_embeddings.projection.bias"], stride=patch)
    b = x.shape[0]
    emb = emb.flatten(2).transpose(1, 2)
    tokens = torch.cat([weights["embeddings.cls_token"].expand(b, -1, -1), emb], dim=1)
    tokens = tokens + position_embeddings(weights["embeddings.position_embeddings"], x.shape[2], x.shape[3], patch)
    states = [tokens]
    h = tokens
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        y = F.layer_norm(h, (d,), weights[p + "norm1.weight"], weights[p + "norm1.bias"], eps)

        def proj(name):
            return F.linear(y, weights[p + f"attention.attention.{name}.weight"],
                            weights[p + f"attention.attention.{name}.bias"]).view(b, -1, heads, hd).permute(0, 2, 1, 3)
        q, k, v = proj("query"), proj("key"), proj("value")
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        ctx = torch.matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).reshape(b, -1, d)
        a = F.linear(ctx, weights[p + "attention.output.dense.weight"], weights[p + "attention.output.dense.bias"])
        h = h + weights[p + "layer_scale1.lambda1"] * a
        y = F.layer_norm(h, (d,), weights[p + "norm2.weight"], weights[p + "norm2.bias"], eps)
        u = F.linear(y, weights[p + "mlp.weights_in.weight"], weights[p + "mlp.weights_in.bias"])
        x1, x2 = u.chunk(2, dim=-1)
        f = F.linear(F.silu(x1) * x2, weights[p + "mlp.weights_out.weight"], weights[p + "mlp.weights_out.bias"])
        h = h + weights[p + "layer_scale2.lambda1"] * f
        states.append(h)
    last = F.layer_norm(h, (d,), weights["layernorm.weight"], weights["layernorm.bias"], eps)
    return last, states


def main():
    torch.set_num_threads(1)
    with open(os.path.join(MODEL, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["use_swiglu_ffn"]
    weights = read_safetensors(os.path.join(MODEL, "model.safetensors"))
    io = read_safetensors(os.path.join(MODEL, "io.safetensors"))
    with torch.no_grad():
        last, states = forward(weights, cfg, io["pixel_values"])
        err = (last - io["last_hidden_state"]).abs().max().item()
        err_h = (torch.stack(states) - io["hidden_states"]).abs().max().item()
        if err > 1e-5 or err_h > 2e-5:
            sys.exit(f"the re-implementation misses the shared golden outputs ({err:.2e}, {err_h:.2e}): not writing")
        print(f"reproduces shared golden backbone_swiglu: last_hidden_state {err:.2e}, hidden_states {err_h:.2e}")
        gen = torch.Generator().manual_seed(2026)
        out = {}
        for name, shape in [("nonsquare_96x80", (1, 1, 96, 80)), ("smaller_48x48", (2, 1, 48, 48)),
                            ("same_count_32x128", (1, 1, 32, 128))]:
            x = torch.randn(shape, generator=gen)
            last, states = forward(weights, cfg, x)
            out[f"{name}.pixel_values"] = x
            out[f"{name}.last_hidden_state"] = last
            out[f"{name}.hidden_states_last"] = states[-1]
            print(f"{name}: {tuple(x.shape)} -> {tuple(last.shape)}")
    write_safetensors(os.path.join(HERE, "interpolation.safetensors"), out, {
        "model": "shared/golden/backbone_swiglu (image_size 64, 4x4 position grid)",
        "generator": "tests/golden/make_interpolation_golden.py",
        "torch": torch.__version__,
    })


if __name__ == "__main__":
    main()
