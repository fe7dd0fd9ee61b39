#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes mask.safetensors: region masks turned into head input as the reference trainer does it
(raidium-med/curia trainer.py at 8b4afa3a, `make_mask_transform` / `AdaptativeResizeMask`), with
torch's and torchvision's own functions:

    mask (numpy uint16) -> torch.tensor(mask).unsqueeze(0)          2-D (1,H,W); 3-D (1,S,H,W)
    -> .float() -> TF.resize(size=(c, c), BILINEAR, antialias=True) = F.interpolate(bilinear,
       align_corners=False, antialias=True) on the last two axes
    -> m = resized > 0.5; if m.sum() == 0: m = resized > 0.5 * resized.max()   (over the whole
       tensor: per slice for 2-D, over the stack for 3-D)
    -> float 0/1

Per case <name>: `<name>.source` (U8: (H,W) or (S,H,W)), `<name>.resized` (F32, the bilinear
output; 2-D cases), `<name>.mask` (U8 0/1, (1,1,c,c) or (S,1,c,c)), `<name>.fallback` (U8 (1): 1 when the
0.5 threshold left nothing).

End to end (`chain.*`): source masks at another resolution than the images -> the transform above
-> the 2-D head of ../shared/golden/head2d (max-pool to the patch grid, weighted mean of the
post-LayerNorm patch tokens, classifier) on ../shared/golden/head2d/io_mask's pixel_values. The
backbone is make_interpolation_golden.py's functional re-implementation, which must first reproduce
the shared golden head2d logits (with its own model-size masks) to 1e-5.

Run with Debian's python3-torch (1.13) and python3-torchvision (0.14):
    /usr/bin/python3 tests/golden/make_mask_golden.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms.functional as TF

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_interpolation_golden as backbone_ref  # noqa: E402

SHARED = backbone_ref.SHARED
def trainer_transform(mask, size):
    """The trainer's mask transform on one numpy mask: (H,W) for 2-D heads, (S,H,W) for 3-D heads
    (the trainer transposes its (H,W,S) volumes to that). Returns (resized, binary, fallback)."""
    # The trainer makes a uint16 tensor, which torch 1.13 lacks: int32 holds the same values.
    x = torch.tensor(np.array(mask, dtype=np.uint16).astype(np.int32)).unsqueeze(0).to(torch.float32)
    resized = TF.resize(x, (size, size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    # torchvision's tensor resize is torch's interpolate (an image already at the size is returned as is).
    if tuple(x.shape[-2:]) != (size, size):
        batch = x if x.dim() == 4 else x[None]
        direct = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        direct = direct if x.dim() == 4 else direct[0]
        assert torch.equal(direct, resized)
    m = resized > 0.5
    fallback = int(m.sum()) == 0
    if fallback:
        m = resized > torch.max(resized) * 0.5
    return resized[0], m.to(torch.int16).float()[0], fallback


def disc(h, w, cy, cx, r):
    y, x = np.mgrid[0:h, 0:w]
    return ((y - cy) ** 2 + (x - cx) ** 2 <= r * r).astype(np.uint8)


def cases():
    out = []
    # Downsampling a non-square slice: a disc and a bar whose edges fall between source pixels.
    m = disc(200, 280, 90, 130, 40)
    m[14:27, 7:270] = 1
    out.append(("disc_200x280_to_64", m, 64))
    # A tiny region (2x2 pixels of 256x256): after a 4x antialiased downsampling no value reaches
    # 0.5, so the trainer's fallback threshold (half the maximum) keeps it.
    m = np.zeros((256, 256), np.uint8)
    m[101:103, 150:152] = 1
    out.append(("tiny_256_to_64", m, 64))
    # A one-pixel line on a non-square slice: vanishes at 0.5, comes back with the fallback.
    m = np.zeros((192, 150), np.uint8)
    m[75, 15:135] = 1
    m[22:172, 112] = 1
    out.append(("thin_line_192x150_to_64", m, 64))
    # Exactly 2x: edges on odd source pixels give resized values of exactly 0.5, which the strict
    # "> 0.5" leaves out.
    m = np.zeros((128, 128), np.uint8)
    m[33:97, 17:81] = 1
    out.append(("half_128_to_64", m, 64))
    # Upsampling, non-square, an L shape with a hole.
    m = np.zeros((40, 52), np.uint8)
    m[5:35, 5:15] = 1
    m[25:35, 5:45] = 1
    m[28:31, 8:11] = 0
    out.append(("upsample_40x52_to_96", m, 96))
    # Already at the model size: threshold only.
    out.append(("same_64", disc(64, 64, 20, 40, 9), 64))
    # 3-D heads: the stack is thresholded as a whole. A line on slice 1 and a disc on slice 3: the
    # disc passes 0.5 so there is no fallback and the line's slice ends up empty.
    s = np.zeros((4, 100, 90), np.uint8)
    s[1, 50, 10:80] = 1
    s[3] = disc(100, 90, 40, 45, 20)
    out.append(("stack_mixed_4x100x90_to_64", s, 64))
    # Only thin structures: the fallback uses the maximum of the whole stack, so the slice with
    # the weaker response loses its region.
    s = np.zeros((3, 160, 120), np.uint8)
    s[0, 80, 10:110] = 1
    s[2, 40, 60] = 1
    out.append(("stack_fallback_3x160x120_to_64", s, 64))
    return out


def chain(weights, cfg):
    """Source masks at 150x130 -> trainer transform to 64 -> head2d on io_mask's pixel_values."""
    head = backbone_ref.read_safetensors(os.path.join(SHARED, "golden", "head2d", "model.safetensors"))
    io = backbone_ref.read_safetensors(os.path.join(SHARED, "golden", "head2d", "io_mask.safetensors"))
    wc, bc = head["classifier.weight"], head["classifier.bias"]
    patch = cfg["patch_size"]

    def head2d(pixels, masks):
        last, _ = backbone_ref.forward(weights, cfg, pixels)
        tokens = last[:, 1:, :]
        g = int(round(tokens.shape[1] ** 0.5))
        k = masks.shape[-1] // g
        pooled = F.max_pool2d(masks, kernel_size=k, stride=k).flatten(1)  # (B, g*g)
        feat = (tokens * pooled[:, :, None]).sum(1) / pooled.sum(1, keepdim=True)
        return F.linear(feat, wc, bc)

    with torch.no_grad():
        err = (head2d(io["pixel_values"], io["mask"]) - io["logits"]).abs().max().item()
        if err > 1e-5:
            sys.exit(f"the head re-implementation misses the shared golden head2d logits ({err:.2e}): not writing")
        print(f"reproduces shared golden head2d io_mask logits: {err:.2e}")
        h, w = 150, 130
        src = np.stack([disc(h, w, 60, 70, 25),            # a region on a few patches
                        np.zeros((h, w), np.uint8),        # a thin line: the fallback
                        disc(h, w, 110, 30, 12)])
        src[1, 20, 5:120] = 1
        size = io["pixel_values"].shape[-1]
        assert size % patch == 0
        masks, fallbacks = [], []
        for m in src:
            _, binary, fb = trainer_transform(m, size)
            masks.append(binary[None])
            fallbacks.append(int(fb))
        masks = torch.stack(masks)  # (B,1,size,size)
        assert fallbacks == [0, 1, 0], fallbacks
        logits = head2d(io["pixel_values"], masks)
    return {"chain.source": ("U8", src), "chain.mask": ("U8", masks.numpy()),
            "chain.logits": ("F32", logits.numpy())}


def main():
    torch.set_num_threads(1)
    out = {}
    for name, m, size in cases():
        resized, binary, fallback = trainer_transform(m, size)
        if m.ndim == 2:
            binary = binary[None, None]
        else:
            binary = binary[:, None]
        assert binary.sum() > 0, name
        out[f"{name}.source"] = ("U8", m)
        if m.ndim == 2:  # the stacks' resize is the same per slice: their masks are compared
            out[f"{name}.resized"] = ("F32", resized.numpy())
        out[f"{name}.mask"] = ("U8", binary.numpy())
        out[f"{name}.fallback"] = ("U8", np.array([int(fallback)]))
        print(f"{name}: {m.shape} -> {tuple(binary.shape)}, fallback {fallback}, "
              f"{int(binary.sum())} pixels, max {resized.max().item():.4f}")
    # An empty mask stays empty: the head then has nothing to average (the C++ port refuses it).
    _, binary, fallback = trainer_transform(np.zeros((50, 60), np.uint8), 64)
    assert fallback and binary.sum() == 0
    with open(os.path.join(SHARED, "golden", "backbone_swiglu", "config.json")) as f:
        cfg = json.load(f)
    weights = backbone_ref.read_safetensors(os.path.join(SHARED, "golden", "backbone_swiglu", "model.safetensors"))
    out.update(chain(weights, cfg))
    backbone_ref.write_safetensors(os.path.join(HERE, "mask.safetensors"), out, {
        "reference": "raidium-med/curia trainer.py @8b4afa3a make_mask_transform (AdaptativeResizeMask)",
        "generator": "tests/golden/make_mask_golden.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    })


if __name__ == "__main__":
    main()
