"""Oracle for test/oracle/vit.test.ts: a random-weight open_clip VisionTransformer, the same weights
converted to a Hugging Face CLIPVisionModel(WithProjection), both saved as safetensors, plus their
outputs on a random batch. Usage: vit_oracle.py '<json spec>'; prints one JSON line."""
import json
import os
import sys
import types

import numpy as np
import torch
from safetensors.torch import save_file
from open_clip.model import resize_pos_embed
from open_clip.transformer import QuickGELU, VisionTransformer

spec = json.loads(sys.argv[1])
out = spec["outDir"]
os.makedirs(out, exist_ok=True)
torch.manual_seed(spec.get("seed", 0))
w, layers, heads, patch = spec["width"], spec["layers"], spec["heads"], spec["patch"]
stride, image, output_dim, act = spec.get("stride", patch), spec["image"], spec["outputDim"], spec["act"]
act_layer = QuickGELU if act == "quick_gelu" else torch.nn.GELU


def build(image_size):
    v = VisionTransformer(image_size=image_size, patch_size=patch, width=w, layers=layers, heads=heads, mlp_ratio=4.0,
                          output_dim=output_dim or w, act_layer=act_layer)
    if output_dim is None:
        v.proj = None
    if stride != patch:  # overlapping patches: same conv, smaller stride, larger grid
        g = (image_size - patch) // stride + 1
        v.conv1.stride = (stride, stride)
        v.grid_size = (g, g)
        v.positional_embedding = torch.nn.Parameter(torch.zeros(g * g + 1, w))
    return v.eval()


v = build(image)
with torch.no_grad():  # random values everywhere so every parameter shows up in the output
    for name, p in v.named_parameters():
        if "ln_" in name and name.endswith("weight"):
            p.copy_(1 + 0.1 * torch.randn_like(p))
        elif name.endswith("bias") or name in ("class_embedding", "positional_embedding"):
            p.copy_((0.1 if name.endswith("bias") else 0.5) * torch.randn_like(p))
        else:
            fan_in = p[0].numel() if p.dim() > 1 and name != "proj" else p.shape[0]
            p.copy_(torch.randn_like(p) * fan_in ** -0.5)


def save_input(x, path):
    x.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4").tofile(path)  # NHWC for tfjs


def run(model, x):
    with torch.no_grad():
        return model(x).numpy().astype("<f4")


batch = spec.get("batch", 2)
x = torch.randn(batch, 3, image, image)
save_input(x, f"{out}/input.bin")
sd = {f"visual.{k}": t.contiguous() for k, t in v.state_dict().items()}
save_file(sd, f"{out}/openclip.safetensors")
run(v, x).tofile(f"{out}/openclip_out.bin")
result = {"outDim": output_dim or w, "batch": batch}

if spec.get("fullClip"):  # a whole open_clip CLIP (image + text tower) as open_clip.create_model builds it from a config dict
    from open_clip.model import CLIP
    clip = CLIP(embed_dim=output_dim, quick_gelu=act == "quick_gelu",
                vision_cfg={"layers": layers, "width": w, "head_width": w // heads, "patch_size": patch, "image_size": image},
                text_cfg={"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}).eval()
    clip.visual.load_state_dict(v.state_dict())
    save_file({k: t.contiguous() for k, t in clip.state_dict().items()}, f"{out}/openclip_full.safetensors")
    with torch.no_grad():
        clip.encode_image(x).numpy().astype("<f4").tofile(f"{out}/openclip_full_out.bin")

if spec.get("dtypes"):  # the same tower stored in fp16 / bf16; reference computes in fp32 on the rounded weights
    for dt, tdt in (("f16", torch.float16), ("bf16", torch.bfloat16)):
        rounded = {k: t.to(tdt) for k, t in sd.items()}
        save_file(rounded, f"{out}/openclip_{dt}.safetensors")
        v2 = build(image)
        v2.load_state_dict({k[len("visual."):]: t.float() for k, t in rounded.items()})
        run(v2, x).tofile(f"{out}/openclip_{dt}_out.bin")

if spec.get("resizeTo"):  # load at another image size: open_clip's own bicubic pos-embed resampling
    new_image = spec["resizeTo"]
    v3 = build(new_image)
    sd3 = dict(sd)
    resize_pos_embed(sd3, types.SimpleNamespace(visual=v3))
    v3.load_state_dict({k[len("visual."):]: t for k, t in sd3.items()})
    x3 = torch.randn(batch, 3, new_image, new_image)
    save_input(x3, f"{out}/input_resized.bin")
    run(v3, x3).tofile(f"{out}/resized_out.bin")

if stride == patch:
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=layers, num_attention_heads=heads,
                           image_size=image, patch_size=patch, hidden_act=act, layer_norm_eps=1e-5,
                           projection_dim=output_dim or w)
    hf = (CLIPVisionModelWithProjection if output_dim else CLIPVisionModel)(cfg).eval()
    s = v.state_dict()
    hsd = {
        "vision_model.embeddings.class_embedding": s["class_embedding"],
        "vision_model.embeddings.position_embedding.weight": s["positional_embedding"],
        "vision_model.embeddings.patch_embedding.weight": s["conv1.weight"],
        "vision_model.pre_layrnorm.weight": s["ln_pre.weight"], "vision_model.pre_layrnorm.bias": s["ln_pre.bias"],
        "vision_model.post_layernorm.weight": s["ln_post.weight"], "vision_model.post_layernorm.bias": s["ln_post.bias"],
    }
    for i in range(layers):
        o, h = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for j, n in enumerate("qkv"):
            hsd[f"{h}self_attn.{n}_proj.weight"] = s[f"{o}attn.in_proj_weight"][j * w:(j + 1) * w]
            hsd[f"{h}self_attn.{n}_proj.bias"] = s[f"{o}attn.in_proj_bias"][j * w:(j + 1) * w]
        pairs = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
        for hn, on in pairs.items():
            for kind in ("weight", "bias"):
                hsd[f"{h}{hn}.{kind}"] = s[f"{o}{on}.{kind}"]
    if output_dim:
        hsd["visual_projection.weight"] = s["proj"].t()
    if not any(k.startswith("vision_model.") for k in hf.state_dict()):  # transformers 5 CLIPVisionModel: unprefixed
        hsd = {k.removeprefix("vision_model."): t for k, t in hsd.items()}
    missing, unexpected = hf.load_state_dict(hsd, strict=False)
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    hf.save_pretrained(f"{out}/hf", safe_serialization=True)
    with torch.no_grad():
        o = hf(pixel_values=x)
        hf_out = (o.image_embeds if output_dim else o.pooler_output).numpy().astype("<f4")
    hf_out.tofile(f"{out}/hf_out.bin")
    ref = run(v, x)
    result["hfVsOpenclipMaxAbs"] = float(np.abs(hf_out - ref).max())

print(json.dumps(result))
