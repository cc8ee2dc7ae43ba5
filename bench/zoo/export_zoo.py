#!/usr/bin/python3
"""Exports the architectures a model registry is full of with torch.onnx.export, as users' tools write them.

Each model is exported at opset 13 and 17, with a fixed batch of 1 (torch's default export, and the shape of
most model-zoo files) and with a symbolic batch, next to calibration and evaluation samples:

    OUT/<name>/<name>-op<opset>-<fixed|dynamic>.onnx
    OUT/<name>/calibration.npz, OUT/<name>/eval.npz      (one array per model input, first axis the sample)

Weights are random (seeded), but BatchNormalization statistics are put in a realistic state first: the
model runs in training mode over the calibration images, so each layer's running mean and variance are
those of its real inputs, as after training. Biases keep torch's default initialisation (EfficientNet's and
MobileNetV3's are all zero, which makes the exporter merge equal initializers: a quirk real files have).

    /usr/bin/python3 bench/zoo/export_zoo.py OUT [--tiny] [--models resnet18,bert ...] [--samples 128]

--tiny exports narrow, low-resolution variants of the same architectures (small enough to commit as test
fixtures); without it the models are the standard torchvision sizes at 224x224 (ResNet-50: 100 MB a file).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv3 as tv_mobilenetv3
from torchvision.models import regnet as tv_regnet
from torchvision.models.vision_transformer import VisionTransformer

OPSETS = (13, 17)


# ---------------------------------------------------------------- sequence models

class BertStyleEncoder(nn.Module):
    """A BERT-style encoder: word + position + token-type embeddings (Gather), LayerNorm, self-attention with
    Softmax over masked scores, GELU feed-forward (Erf, or Tanh with gelu='tanh'), a pooled classifier."""

    def __init__(self, vocab=8000, hidden=256, layers=4, heads=4, intermediate=1024, max_len=128, classes=2,
                 gelu="erf"):
        super().__init__()
        self.heads = heads
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_len, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                "q": nn.Linear(hidden, hidden), "k": nn.Linear(hidden, hidden), "v": nn.Linear(hidden, hidden),
                "o": nn.Linear(hidden, hidden), "norm1": nn.LayerNorm(hidden, eps=1e-12),
                "up": nn.Linear(hidden, intermediate), "down": nn.Linear(intermediate, hidden),
                "norm2": nn.LayerNorm(hidden, eps=1e-12)}))
        self.act = nn.GELU(approximate="tanh" if gelu == "tanh" else "none")
        self.pool = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.shape
        positions = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(positions) + self.token_type(torch.zeros_like(input_ids))
        x = self.norm(x)
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        d = x.shape[-1] // self.heads
        for layer in self.layers:
            def split(t):
                return t.view(b, s, self.heads, d).transpose(1, 2)
            q, k, v = split(layer["q"](x)), split(layer["k"](x)), split(layer["v"](x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / (d ** 0.5) + mask
            context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, s, -1)
            x = layer["norm1"](x + layer["o"](context))
            x = layer["norm2"](x + layer["down"](self.act(layer["up"](x))))
        return self.classifier(torch.tanh(self.pool(x[:, 0])))


class Gpt2StyleDecoder(nn.Module):
    """A GPT-2-style decoder: token + position embeddings, pre-LayerNorm blocks with causally masked
    attention (one fused QKV projection, as GPT-2's c_attn), tanh-GELU MLP, logits through the tied
    embedding matrix."""

    def __init__(self, vocab=8000, hidden=256, layers=4, heads=4, max_len=128):
        super().__init__()
        self.heads = heads
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_len, hidden)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(hidden), "qkv": nn.Linear(hidden, 3 * hidden), "proj": nn.Linear(hidden, hidden),
                "ln2": nn.LayerNorm(hidden), "fc": nn.Linear(hidden, 4 * hidden), "out": nn.Linear(4 * hidden, hidden)}))
        self.ln_f = nn.LayerNorm(hidden)
        self.act = nn.GELU(approximate="tanh")
        self.register_buffer("causal", torch.tril(torch.ones(max_len, max_len)).view(1, 1, max_len, max_len))

    def forward(self, input_ids):
        b, s = input_ids.shape
        positions = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.token(input_ids) + self.position(positions)
        d = x.shape[-1] // self.heads
        for block in self.blocks:
            q, k, v = block["qkv"](block["ln1"](x)).split(x.shape[-1], dim=2)
            q, k, v = (t.view(b, s, self.heads, d).transpose(1, 2) for t in (q, k, v))
            scores = torch.matmul(q, k.transpose(-1, -2)) / (d ** 0.5)
            scores = scores.masked_fill(self.causal[:, :, :s, :s] == 0, float("-inf"))
            context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, s, -1)
            x = x + block["proj"](context)
            x = x + block["out"](self.act(block["fc"](block["ln2"](x))))
        return torch.matmul(self.ln_f(x), self.token.weight.t())


class RecurrentClassifier(nn.Module):
    """Embedding, a two-layer LSTM or GRU, the last step's state through a linear classifier."""

    def __init__(self, cell, vocab=8000, embed=128, hidden=256, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embed, hidden, num_layers=2, batch_first=True)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids):
        out, _ = self.rnn(self.embed(input_ids))
        return self.classifier(out[:, -1])


# ---------------------------------------------------------------- the zoo

def vit(tiny):
    if tiny:
        model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                  mlp_dim=64, num_classes=10)
    else:
        model = VisionTransformer(image_size=224, patch_size=16, num_layers=4, num_heads=3, hidden_dim=192,
                                  mlp_dim=768, num_classes=1000)
    # torchvision starts the classifier head at zero (for fine-tuning): every output would be 0 and every
    # comparison of outputs trivially exact. A trained head is not zero.
    nn.init.normal_(model.heads.head.weight, std=model.heads.head.in_features ** -0.5)
    nn.init.normal_(model.heads.head.bias, std=0.1)
    return model


def mobilenet_v3(arch, tiny):
    settings, last_channel = tv_mobilenetv3._mobilenet_v3_conf(arch, width_mult=0.25 if tiny else 1.0)
    return tv_mobilenetv3.MobileNetV3(settings, last_channel, num_classes=10 if tiny else 1000)


def efficientnet_b0(tiny):
    settings, last_channel = tv_efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25 if tiny else 1.0,
                                                                depth_mult=0.34 if tiny else 1.0)
    return tv_efficientnet.EfficientNet(settings, 0.2, last_channel=last_channel, num_classes=10 if tiny else 1000)


def regnet_y_400mf(tiny):
    if tiny:
        params = tv_regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25)
        return tv_regnet.RegNet(params, num_classes=10)
    return torchvision.models.regnet_y_400mf()


def resnet(depth, tiny):
    if tiny:
        resnets = torchvision.models.resnet
        return _narrow_resnet(resnets.BasicBlock if depth == 18 else resnets.Bottleneck)
    return torchvision.models.resnet18() if depth == 18 else torchvision.models.resnet50()


def _narrow_resnet(block):
    """torchvision fixes ResNet's widths at 64..512; the tiny fixture builds the same network at 8..64
    channels, one block per stage (BasicBlock for ResNet-18, Bottleneck for ResNet-50)."""
    class Tiny(torchvision.models.resnet.ResNet):
        def __init__(self):
            nn.Module.__init__(self)
            self._norm_layer = nn.BatchNorm2d
            self.inplanes, self.dilation, self.groups, self.base_width = 8, 1, 1, 64
            self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(block, 8, 1)
            self.layer2 = self._make_layer(block, 16, 1, stride=2)
            self.layer3 = self._make_layer(block, 32, 1, stride=2)
            self.layer4 = self._make_layer(block, 64, 1, stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(64 * block.expansion, 10)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return Tiny()


IMAGE_MODELS = {
    "resnet18": lambda tiny: resnet(18, tiny),
    "resnet50": lambda tiny: resnet(50, tiny),
    "mobilenet_v2": lambda tiny: torchvision.models.mobilenet_v2(width_mult=0.25 if tiny else 1.0,
                                                                 num_classes=10 if tiny else 1000),
    "mobilenet_v3_small": lambda tiny: mobilenet_v3("mobilenet_v3_small", tiny),
    "mobilenet_v3_large": lambda tiny: mobilenet_v3("mobilenet_v3_large", tiny),
    "efficientnet_b0": efficientnet_b0,
    "regnet_y_400mf": regnet_y_400mf,
    "squeezenet1_1": lambda tiny: torchvision.models.squeezenet1_1(num_classes=10 if tiny else 1000),
    "vit": vit,
}

SEQUENCE_MODELS = {
    "bert": lambda tiny: BertStyleEncoder(**(dict(vocab=500, hidden=32, layers=2, heads=2, intermediate=64,
                                                  max_len=16) if tiny else {})),
    "bert_tanh": lambda tiny: BertStyleEncoder(gelu="tanh", **(dict(vocab=500, hidden=32, layers=2, heads=2,
                                                                    intermediate=64, max_len=16) if tiny else {})),
    "gpt2": lambda tiny: Gpt2StyleDecoder(**(dict(vocab=500, hidden=32, layers=2, heads=2, max_len=16) if tiny else {})),
    "lstm": lambda tiny: RecurrentClassifier("lstm", **(dict(vocab=500, embed=16, hidden=24) if tiny else {})),
    "gru": lambda tiny: RecurrentClassifier("gru", **(dict(vocab=500, embed=16, hidden=24) if tiny else {})),
}

# Models that torchvision ships at a fixed input size in the tiny variant.
TINY_IMAGE_SIZE = {"vit": 32}


def images(count, size, seed):
    """Smooth random images, normalised like ImageNet inputs: low-resolution noise upsampled, so that
    neighbouring pixels correlate as in photographs."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, max(2, size // 8), max(2, size // 8), generator=g)
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    fine = fine + 0.05 * torch.randn(count, 3, size, size, generator=g)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((fine.clamp(0, 1) - mean) / std).float()


def tokens(count, length, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    # Zipf-like token frequencies, as in text: low ids are common.
    ranks = torch.arange(1, vocab + 1, dtype=torch.float64)
    probs = (1.0 / ranks) / (1.0 / ranks).sum()
    return torch.multinomial(probs, count * length, replacement=True, generator=g).view(count, length).long()


def calibrate_batch_norm(model, batches):
    """Running statistics as after training: cumulative averages over real inputs."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    model.eval()


def damp_residual_branches(model, gamma):
    """Scales the last BatchNorm's gamma of every residual branch by gamma. Random networks with batch
    normalization are chaotic (their sensitivity to a perturbation grows with depth), far more than trained
    ones, whose residual branches add a fraction to the skip path; torchvision's zero_init_residual is the
    extreme of this. Used to tell a quantizer's error from the fixture's chaos (docs/benchmarks.md)."""
    for module in model.modules():
        if type(module).__name__ in ("InvertedResidual", "MBConv", "BasicBlock", "Bottleneck", "ResBottleneckBlock") \
                and getattr(module, "use_res_connect", True):
            norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
            if norms:
                with torch.no_grad():
                    norms[-1].weight.mul_(gamma)


def export(model, args, names, dynamic_axes, path, opset, batch_fixed):
    torch.onnx.export(model, args, path, opset_version=opset, input_names=names, output_names=["output"],
                      dynamic_axes=None if batch_fixed else dynamic_axes, do_constant_folding=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--models", default=",".join(list(IMAGE_MODELS) + list(SEQUENCE_MODELS)))
    parser.add_argument("--samples", type=int, default=128, help="calibration samples (evaluation: 16)")
    parser.add_argument("--opsets", default=",".join(map(str, OPSETS)))
    parser.add_argument("--variants", default="fixed,dynamic")
    parser.add_argument("--residual-gamma", type=float, default=1.0,
                        help="scale of the last BatchNorm gamma of each residual branch (default 1: unchanged)")
    a = parser.parse_args()
    torch.manual_seed(0)
    opsets = [int(o) for o in a.opsets.split(",")]
    variants = a.variants.split(",")
    for name in a.models.split(","):
        if name not in IMAGE_MODELS and name not in SEQUENCE_MODELS:
            sys.exit("export_zoo.py: unknown model '%s' (known: %s)" % (name, ", ".join(list(IMAGE_MODELS) + list(SEQUENCE_MODELS))))
        folder = os.path.join(a.out, name)
        os.makedirs(folder, exist_ok=True)
        torch.manual_seed(sum(map(ord, name)))
        if name in IMAGE_MODELS:
            model = IMAGE_MODELS[name](a.tiny)
            size = TINY_IMAGE_SIZE.get(name, 64) if a.tiny else 224
            cal = images(a.samples, size, seed=1)
            ev = images(16, size, seed=2)
            calibrate_batch_norm(model, cal.split(32))
            if a.residual_gamma != 1.0:
                damp_residual_branches(model, a.residual_gamma)
            feeds_cal, feeds_ev = {"input": cal}, {"input": ev}
            example = (ev[:1],)
            names = ["input"]
            axes = {"input": {0: "batch"}, "output": {0: "batch"}}
        else:
            model = SEQUENCE_MODELS[name](a.tiny).eval()
            vocab = model.word.num_embeddings if hasattr(model, "word") else (
                model.token.num_embeddings if hasattr(model, "token") else model.embed.num_embeddings)
            length = 16 if a.tiny else 128
            cal, ev = tokens(a.samples, length, vocab, 1), tokens(16, length, vocab, 2)
            if name.startswith("bert"):
                mask_cal, mask_ev = torch.ones_like(cal), torch.ones_like(ev)
                mask_cal[:, length * 3 // 4:] = 0  # padded tails, as real batches have
                mask_ev[:, length * 3 // 4:] = 0
                feeds_cal = {"input_ids": cal, "attention_mask": mask_cal}
                feeds_ev = {"input_ids": ev, "attention_mask": mask_ev}
                example = (ev[:1], mask_ev[:1])
                names = ["input_ids", "attention_mask"]
                axes = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}, "output": {0: "batch"}}
            else:
                feeds_cal, feeds_ev = {"input_ids": cal}, {"input_ids": ev}
                example = (ev[:1],)
                names = ["input_ids"]
                axes = {"input_ids": {0: "batch"}, "output": {0: "batch"}}
        model.eval()
        np.savez(os.path.join(folder, "calibration.npz"), **{k: v.numpy() for k, v in feeds_cal.items()})
        np.savez(os.path.join(folder, "eval.npz"), **{k: v.numpy() for k, v in feeds_ev.items()})
        for opset in opsets:
            for variant in variants:
                path = os.path.join(folder, "%s-op%d-%s.onnx" % (name, opset, variant))
                export(model, example, names, axes, path, opset, variant == "fixed")
                print("%s %d bytes" % (path, os.path.getsize(path)), flush=True)


if __name__ == "__main__":
    main()
