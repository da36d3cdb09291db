"""Generate the corpus of real exported ONNX models (tests/corpus/models/*.onnx + manifest.json).

The test suite never runs this script: it reads the committed files (CI cannot install torch).
Run it by hand, in an environment of its own (torch and torchvision are large; never install
them into the test environment, whose numpy must stay < 1.24)::

    python3 -m venv /tmp/genvenv && . /tmp/genvenv/bin/activate
    pip install torch==2.14.1 torchvision==0.29.1 onnx onnxscript onnxruntime ultralytics
    cd <repository root>
    python tests/corpus/generate.py                 # every model
    python tests/corpus/generate.py vit_t17 bert_d20  # only these (the manifest keeps the others)

``ultralytics`` is optional: without it the YOLO entries are skipped (and kept from an earlier
manifest). The script works offline; weights are random and seeded, zero-initialized
parameters get random values and BatchNorm running statistics are measured on realistic inputs,
so every layer contributes to the outputs (the script checks that outputs depend on inputs).

Each model is small (reduced widths/depths) but keeps the graph structure of its family as the
exporter writes it: TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) at opset 13
and 17 with ``dynamic_axes`` (BatchNorm folded into Conv, as it does in eval mode), the dynamo
exporter (``dynamo=True``) at opset 18-20 with ``dynamic_shapes``, and an older-exporter style
model whose initializers are also graph inputs (``keep_initializers_as_inputs=True``, opset 9,
no constant folding: BatchNormalization nodes).

The manifest records, per model: file, sha256, producer, exporter, opset, the inputs (name,
dtype, declared shape with symbolic dims, how to draw realistic values), the concrete input
shapes of the test cases (two cases of different batch / sequence length when the model has
dynamic dims), the relative tolerance and how outputs are compared (``allclose`` or
``detection``: NMS outputs compared as sets of boxes). The tests compare gluon_onnx with
onnxruntime on the same file; the torch outputs are only used here, as a sanity check of the
export.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
import torchvision
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from inputs import make_value  # noqa: E402  (tests/corpus/inputs.py, shared with the tests)

MODELS = HERE / "models"
MANIFEST = MODELS / "manifest.json"
SIZE_BUDGET_BYTES = 25 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# input specifications


@dataclass
class InputSpec:
    """One model input: declared shape (str = symbolic dim) and how tests draw its values.

    ``values`` and ``high``: how the tests draw values (tests/corpus/inputs.py).
    """

    name: str
    dtype: str
    shape: list
    values: str = "normal"
    high: int = 0


@dataclass
class Entry:
    name: str
    build: Callable[[], nn.Module]
    inputs: list[InputSpec]
    outputs: list[str]
    cases: list[dict[str, int]]  # symbolic dim -> size, one dict per test case
    exporter: str = "torchscript"  # or "dynamo"
    opset: int = 17
    tolerance: float = 1e-4
    compare: str = "allclose"
    detection_outputs: dict[str, str] = field(default_factory=dict)  # boxes/scores/labels -> output
    keep_initializers_as_inputs: bool = False
    constant_folding: bool = True  # False keeps BatchNormalization nodes, as old exporters wrote them
    description: str = ""
    needs: str = ""  # optional python module the builder needs
    finalize: Callable[[nn.Module], nn.Module] | None = None  # after BatchNorm calibration


def concrete_shape(spec: InputSpec, case: dict[str, int]) -> list[int]:
    return [case[d] if isinstance(d, str) else d for d in spec.shape]


# --------------------------------------------------------------------------------------------
# model builders (all seeded by the caller)


def fill_zero_parameters(model: nn.Module) -> nn.Module:
    """Random values for parameters initialized to zeros (ViT's head, biases): a trained model has none,
    and an all-zero head would hide every error before it."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.is_floating_point() and not parameter.any():
                fan_in = parameter[0].numel() if parameter.dim() > 1 else 50
                parameter.normal_(0.0, fan_in ** -0.5)
    return model


def calibrate_batchnorm(model: nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> nn.Module:
    """Random affine parameters, and running statistics measured on realistic inputs.

    Without calibration, random convolution stacks drift far from BatchNorm's assumptions and
    deep models (detectors most of all) end up ignoring their input.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    for norm in norms:
        with torch.no_grad():
            if norm.affine:
                norm.weight.copy_(1.0 + 0.1 * torch.randn(norm.num_features))
                norm.bias.copy_(0.1 * torch.randn(norm.num_features))
        if norm.track_running_stats:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the calibration batches
            norm.train()
    with torch.no_grad():
        if isinstance(model, DetectionWrapper):  # all images at once: the last SSD features are 1x1
            model.detector([image for batch in batches for image in batch])
        else:
            for batch in batches:
                model(*batch)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


class SmallResNet(nn.Module):
    """torchvision's ResNet layout (stem, 4 stages of torchvision blocks, pooling, fc) with small widths."""

    def __init__(self, block: type, layers: list[int], widths: tuple[int, ...] = (16, 32, 64, 128),
                 num_classes: int = 10):
        super().__init__()
        from torchvision.models.resnet import conv1x1

        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stages = []
        for index, (width, count) in enumerate(zip(widths, layers)):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or self.inplanes != width * block.expansion:
                downsample = nn.Sequential(conv1x1(self.inplanes, width * block.expansion, stride),
                                           nn.BatchNorm2d(width * block.expansion))
            blocks = [block(self.inplanes, width, stride, downsample)]
            self.inplanes = width * block.expansion
            blocks += [block(self.inplanes, width) for _ in range(1, count)]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_basic() -> nn.Module:
    from torchvision.models.resnet import BasicBlock

    return SmallResNet(BasicBlock, [1, 1, 1, 1])


def resnet_bottleneck() -> nn.Module:
    from torchvision.models.resnet import Bottleneck

    return SmallResNet(Bottleneck, [1, 1, 1, 1], widths=(8, 16, 32, 64))


def efficientnet_small() -> nn.Module:
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    setting, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.34)
    return EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last_channel)


def vit_small() -> nn.Module:
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=64, mlp_dim=128, num_classes=10)


def swin_small() -> nn.Module:
    from torchvision.models.swin_transformer import SwinTransformer

    return SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                           num_classes=10)


def lraspp_small() -> nn.Module:
    from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3

    backbone = torchvision.models.mobilenet_v3_large(width_mult=0.25, dilated=True, reduced_tail=True)
    return _lraspp_mobilenetv3(backbone, num_classes=3)


def deeplabv3_small() -> nn.Module:
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.resnet import BasicBlock
    from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3

    backbone = IntermediateLayerGetter(SmallResNet(BasicBlock, [1, 1, 1, 1]), return_layers={"layer4": "out"})
    classifier = nn.Sequential(ASPP(128, [2, 4, 6], out_channels=32), nn.Conv2d(32, 32, 3, padding=1, bias=False),
                               nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 3, 1))
    return DeepLabV3(backbone, classifier)


class DetectionWrapper(nn.Module):
    """A torchvision detector on one image: (3, H, W) -> boxes, scores, labels."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        result = self.detector([image])[0]
        return result["boxes"], result["scores"], result["labels"]


def ssdlite_small() -> nn.Module:
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.detection.ssdlite import SSDLiteHead, _mobilenet_extractor

    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = torchvision.models.mobilenet_v3_large(width_mult=0.25, reduced_tail=True, norm_layer=norm_layer)
    backbone = _mobilenet_extractor(backbone, 6, norm_layer)
    size = (160, 160)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(backbone, size)
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), 3, norm_layer)
    detector = SSD(backbone, anchors, size, 3, head=head, score_thresh=0.3, nms_thresh=0.55,
                   detections_per_img=30, topk_candidates=60, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return DetectionWrapper(detector)


def fasterrcnn_small() -> nn.Module:
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    features = torchvision.models.mobilenet_v3_large(width_mult=0.25, reduced_tail=True).features
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
    returned = [stages[-2], stages[-1]]
    backbone = BackboneWithFPN(features, {str(k): str(v) for v, k in enumerate(returned)},
                               [features[i].out_channels for i in returned], out_channels=32,
                               extra_blocks=LastLevelMaxPool())
    anchors = AnchorGenerator(((32, 64, 128),) * 3, ((0.5, 1.0, 2.0),) * 3)
    detector = FasterRCNN(backbone, rpn_anchor_generator=anchors, min_size=128, max_size=128,
                          rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=30, rpn_score_thresh=0.05,
                          box_head=TwoMLPHead(32 * 7 * 7, 64), box_predictor=FastRCNNPredictor(64, 3),
                          box_score_thresh=0.2, box_detections_per_img=20)
    with torch.no_grad():  # torchvision initializes these at std 0.01: every score would tie
        for layer in (detector.rpn.head.cls_logits, detector.roi_heads.box_predictor.cls_score):
            layer.weight.normal_(0.0, 0.3)
    return DetectionWrapper(detector)


class RecurrentClassifier(nn.Module):
    """Token classifier: embedding, a bidirectional 2-layer LSTM/GRU, mean over time, linear head."""

    def __init__(self, cell: str, vocab: int = 50, embed: int = 16, hidden: int = 24, classes: int = 4):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embed, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sequence, _ = self.rnn(self.embedding(tokens))
        return self.head(sequence.mean(dim=1)), sequence


class EncoderWithMask(nn.Module):
    """nn.TransformerEncoder over float features with a key padding mask."""

    def __init__(self, d_model: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, 128, dropout=0.1, batch_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        return self.norm(self.encoder(features, src_key_padding_mask=padding_mask == 0))


class BertLike(nn.Module):
    """A BERT-style encoder written as HuggingFace writes it (view/transpose attention, additive
    extended mask with finfo.min, erf GELU, pooler)."""

    def __init__(self, vocab: int = 100, hidden: int = 64, heads: int = 4, layers: int = 2, intermediate: int = 128,
                 max_positions: int = 64, classes: int = 3):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                "query": nn.Linear(hidden, hidden), "key": nn.Linear(hidden, hidden),
                "value": nn.Linear(hidden, hidden), "out": nn.Linear(hidden, hidden),
                "norm1": nn.LayerNorm(hidden, eps=1e-12), "up": nn.Linear(hidden, intermediate),
                "down": nn.Linear(intermediate, hidden), "norm2": nn.LayerNorm(hidden, eps=1e-12),
            }))
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, classes)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), x.size(1), self.heads, self.head_dim).transpose(1, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = input_ids.size(1)
        positions = torch.arange(length, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(positions) + self.token_type(torch.zeros_like(input_ids))
        x = self.embed_norm(x)
        extended = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            q, k, v = (self._split(layer[n](x)) for n in ("query", "key", "value"))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + extended
            context = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2)
            context = context.reshape(context.size(0), context.size(1), -1)
            x = layer["norm1"](x + layer["out"](context))
            x = layer["norm2"](x + layer["down"](nn.functional.gelu(layer["up"](x))))
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, self.classifier(pooled)


class OldStyleCNN(nn.Module):
    """A VGG-style CNN written the way old tutorials do (x.view(x.size(0), -1), Dropout)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(inplace=True),
                                        nn.Linear(64, 10), nn.LogSoftmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


def yolo(config: str, scale: list) -> nn.Module:
    """An ultralytics detection model built from its yaml (no download)."""
    import yaml
    from ultralytics import __file__ as ultralytics_file
    from ultralytics.nn.tasks import DetectionModel

    cfg = yaml.safe_load((Path(ultralytics_file).parent / "cfg" / "models" / config).read_text())
    cfg["scales"] = {"n": scale}
    cfg["scale"] = "n"
    cfg["nc"] = 4
    return DetectionModel(cfg, ch=3, nc=4, verbose=False)


def yolo_export_ready(model: nn.Module) -> nn.Module:
    """What ultralytics' ONNX exporter does before torch.onnx.export: fuse Conv+BN, export head."""
    from ultralytics.nn.modules import Detect

    model = model.eval().fuse(verbose=False)
    for module in model.modules():
        if isinstance(module, Detect):
            module.export, module.format, module.dynamic = True, "onnx", True
    return model


# --------------------------------------------------------------------------------------------
# the corpus

IMAGE = partial(InputSpec, dtype="float32", values="normal")
BATCH_CASES = [{"batch": 1}, {"batch": 3}]


def image_input(size: int, name: str = "input") -> InputSpec:
    return IMAGE(name, shape=["batch", 3, size, size])


def entries() -> list[Entry]:
    tokens = partial(InputSpec, dtype="int64", values="tokens")
    text_cases = [{"batch": 1, "seq": 7}, {"batch": 3, "seq": 12}]
    return [
        # --- classification, TorchScript exporter -------------------------------------------
        Entry("resnet_basic_t13", resnet_basic, [image_input(64)], ["logits"], BATCH_CASES, opset=13,
              description="torchvision ResNet layout, BasicBlock, layers [1,1,1,1], widths 16-128"),
        Entry("resnet_bottleneck_t17", resnet_bottleneck, [image_input(64)], ["logits"], BATCH_CASES, opset=17,
              description="torchvision ResNet layout, Bottleneck, layers [1,1,1,1], widths 8-64"),
        Entry("squeezenet1_1_t17", lambda: torchvision.models.squeezenet1_1(num_classes=10), [image_input(96)],
              ["logits"], BATCH_CASES, opset=17, description="torchvision squeezenet1_1, 10 classes"),
        Entry("shufflenet_v2_x0_5_t13", lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10),
              [image_input(64)], ["logits"], BATCH_CASES, opset=13,
              description="torchvision shufflenet_v2_x0_5, 10 classes (channel shuffle, chunk)"),
        Entry("mobilenet_v3_small_t17",
              lambda: torchvision.models.mobilenet_v3_small(num_classes=10, width_mult=0.5),
              [image_input(64)], ["logits"], BATCH_CASES, opset=17,
              description="torchvision mobilenet_v3_small width 0.5 (HardSwish, HardSigmoid, SE)"),
        Entry("efficientnet_small_t13", efficientnet_small, [image_input(64)], ["logits"], BATCH_CASES, opset=13,
              description="torchvision EfficientNet-B0 configuration, width 0.25, depth 0.34 (SiLU, SE)"),
        Entry("vit_t17", vit_small, [image_input(32)], ["logits"], BATCH_CASES, opset=17,
              description="torchvision VisionTransformer 32px, patch 8, 2 layers, 2 heads, hidden 64"),
        Entry("swin_t17", swin_small, [image_input(32)], ["logits"], BATCH_CASES, opset=17,
              description="torchvision SwinTransformer embed 32, depths [2,2], window 4 (roll, pad, rel. bias)"),
        # --- segmentation ---------------------------------------------------------------------
        Entry("lraspp_mobilenet_v3_t17", lraspp_small, [IMAGE("input", shape=["batch", 3, "height", "width"])],
              ["out"], [{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 96, "width": 80}],
              opset=17, description="torchvision LRASPP on mobilenet_v3_large width 0.25, dilated"),
        Entry("deeplabv3_resnet_t13", deeplabv3_small, [IMAGE("input", shape=["batch", 3, "height", "width"])],
              ["out"], [{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 96, "width": 80}],
              opset=13, description="torchvision DeepLabV3 + ASPP(32 ch) on a small ResNet"),
        # --- detection ------------------------------------------------------------------------
        Entry("ssdlite_mobilenet_v3_t17", ssdlite_small,
              [InputSpec("image", "float32", [3, 160, 160], values="uniform01")], ["boxes", "scores", "labels"],
              [{}, {}], opset=17, compare="detection",
              detection_outputs={"boxes": "boxes", "scores": "scores", "labels": "labels"},
              description="torchvision SSDlite 160px on mobilenet_v3_large width 0.25, 3 classes"),
        Entry("fasterrcnn_mobilenet_v3_fpn_t17", fasterrcnn_small,
              [InputSpec("image", "float32", [3, 128, 128], values="uniform01")], ["boxes", "scores", "labels"],
              [{}, {}], opset=17, compare="detection",
              detection_outputs={"boxes": "boxes", "scores": "scores", "labels": "labels"},
              description="torchvision FasterRCNN, mobilenet_v3_large 0.25 + FPN(32 ch), RoiAlign, 3 classes"),
        # --- text -----------------------------------------------------------------------------
        Entry("lstm_classifier_t13", lambda: RecurrentClassifier("lstm"),
              [tokens("tokens", shape=["batch", "seq"], high=50)], ["logits", "sequence"], text_cases, opset=13,
              description="Embedding + bidirectional 2-layer LSTM (batch_first) + mean + Linear"),
        Entry("gru_classifier_t17", lambda: RecurrentClassifier("gru"),
              [tokens("tokens", shape=["batch", "seq"], high=50)], ["logits", "sequence"], text_cases, opset=17,
              description="Embedding + bidirectional 2-layer GRU (batch_first) + mean + Linear"),
        # the TorchScript exporter bakes the sequence length into nn.MultiheadAttention's reshapes
        Entry("transformer_encoder_t17", EncoderWithMask,
              [InputSpec("features", "float32", ["batch", 10, 64]),
               InputSpec("padding_mask", "int64", ["batch", 10], values="mask")],
              ["encoded"], BATCH_CASES, opset=17,
              description="nn.TransformerEncoder (2 layers, GELU, batch_first) with a key padding mask"),
        Entry("bert_t13", BertLike,
              [tokens("input_ids", shape=["batch", "seq"], high=100),
               InputSpec("attention_mask", "int64", ["batch", "seq"], values="mask")],
              ["last_hidden_state", "logits"], text_cases, opset=13,
              description="BERT-style encoder (HuggingFace attention pattern), 2 layers, hidden 64"),
        # --- older exporters: initializers listed as graph inputs ------------------------------
        Entry("oldstyle_cnn_t9_init_inputs", OldStyleCNN, [image_input(32)], ["log_probs"], BATCH_CASES, opset=9,
              keep_initializers_as_inputs=True, constant_folding=False,
              description="VGG-style CNN, opset 9, keep_initializers_as_inputs=True (IR 4 style)"),
        # --- YOLO (ultralytics) -----------------------------------------------------------------
        Entry("yolov8_t17", lambda: yolo("v8/yolov8.yaml", [0.33, 0.125, 256]),
              [IMAGE("images", shape=["batch", 3, "height", "width"])], ["output0"],
              [{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 96, "width": 64}], opset=17,
              needs="ultralytics", finalize=yolo_export_ready,
              description="ultralytics YOLOv8 (yaml, width 0.125), fused, Detect export head"),
        Entry("yolo11_t13", lambda: yolo("11/yolo11.yaml", [0.5, 0.125, 256]),
              [IMAGE("images", shape=["batch", 3, "height", "width"])], ["output0"],
              [{"batch": 1, "height": 64, "width": 64}, {"batch": 2, "height": 64, "width": 96}], opset=13,
              needs="ultralytics", finalize=yolo_export_ready,
              description="ultralytics YOLO11 (yaml, width 0.125): C3k2, C2PSA attention"),
        # --- dynamo exporter --------------------------------------------------------------------
        Entry("resnet_basic_d20", resnet_basic, [image_input(64)], ["logits"], BATCH_CASES, exporter="dynamo",
              opset=20, description="as resnet_basic_t13, torch.onnx.export(dynamo=True)"),
        Entry("vit_d18", vit_small, [image_input(32)], ["logits"], BATCH_CASES, exporter="dynamo", opset=18,
              description="as vit_t17, dynamo exporter"),
        Entry("efficientnet_small_d20", efficientnet_small, [image_input(64)], ["logits"], BATCH_CASES,
              exporter="dynamo", opset=20, description="as efficientnet_small_t13, dynamo exporter"),
        Entry("bert_d20", BertLike,
              [tokens("input_ids", shape=["batch", "seq"], high=100),
               InputSpec("attention_mask", "int64", ["batch", "seq"], values="mask")],
              ["last_hidden_state", "logits"], text_cases, exporter="dynamo", opset=20,
              description="as bert_t13, dynamo exporter"),
        Entry("transformer_encoder_d18", EncoderWithMask,
              [InputSpec("features", "float32", ["batch", "seq", 64]),
               InputSpec("padding_mask", "int64", ["batch", "seq"], values="mask")],
              ["encoded"], text_cases, exporter="dynamo", opset=18,
              description="as transformer_encoder_t17 with a dynamic sequence length, dynamo exporter"),
        Entry("lstm_classifier_d20", lambda: RecurrentClassifier("lstm"),
              [tokens("tokens", shape=["batch", "seq"], high=50)], ["logits", "sequence"], text_cases,
              exporter="dynamo", opset=20, description="as lstm_classifier_t13, dynamo exporter"),
    ]


# --------------------------------------------------------------------------------------------
# export


def example_inputs(entry: Entry, case_index: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of test case ``case_index``; -1: the last case with every dim >= 2 (export, calibration:
    the tracer must not specialize a dynamic dim to 1, BatchNorm needs more than one value)."""
    rng = np.random.default_rng(seed)
    case = {k: max(v, 2) for k, v in entry.cases[-1].items()} if case_index < 0 else entry.cases[case_index]
    return {s.name: make_value(s.values, s.dtype, concrete_shape(s, case), rng, s.high) for s in entry.inputs}


def export(entry: Entry, model: nn.Module, path: Path) -> None:
    feeds = example_inputs(entry, -1)
    args = tuple(torch.from_numpy(feeds[s.name]) for s in entry.inputs)
    if entry.exporter == "dynamo":
        dims: dict[str, torch.export.Dim] = {}
        dynamic_shapes = []
        for spec in entry.inputs:
            axes = {}
            for axis, dim in enumerate(spec.shape):
                if isinstance(dim, str):
                    if dim not in dims:
                        dims[dim] = torch.export.Dim(dim, min=1, max=1024)
                    axes[axis] = dims[dim]
            dynamic_shapes.append(axes)
        torch.onnx.export(model, args, str(path), dynamo=True, opset_version=entry.opset,
                          input_names=[s.name for s in entry.inputs], output_names=entry.outputs,
                          dynamic_shapes=tuple(dynamic_shapes), external_data=False)
        return
    dynamic_axes = {}
    for spec in entry.inputs:
        axes = {axis: dim for axis, dim in enumerate(spec.shape) if isinstance(dim, str)}
        if axes:
            dynamic_axes[spec.name] = axes
    torch.onnx.export(model, args, str(path), dynamo=False, opset_version=entry.opset,
                      input_names=[s.name for s in entry.inputs], output_names=entry.outputs,
                      dynamic_axes=dynamic_axes or None,
                      keep_initializers_as_inputs=entry.keep_initializers_as_inputs,
                      do_constant_folding=entry.constant_folding)


def sanity_check(entry: Entry, model: nn.Module, path: Path) -> float:
    """onnxruntime vs torch on the test cases: the export itself must be right."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for index in range(len(entry.cases)):
        feeds = example_inputs(entry, index, seed=index)
        with torch.no_grad():
            expected = model(*(torch.from_numpy(feeds[s.name]) for s in entry.inputs))
        if isinstance(expected, dict):
            expected = tuple(expected.values())
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        got = session.run(None, feeds)
        for ours, ref in zip(got, expected):
            ref = ref.numpy()
            if entry.compare == "detection":  # compared as sets by the tests; here only the counts
                if len(ours) != len(ref):
                    print(f"{entry.name}: {len(ours)} detections with onnxruntime, {len(ref)} with torch")
                continue
            if ours.shape != ref.shape:
                raise AssertionError(f"{entry.name}: onnxruntime shape {ours.shape} != torch {ref.shape}")
            if ref.ndim and len(ref) > 1 and ref.dtype.kind == "f" and np.ptp(ref, axis=0).max() == 0:
                raise AssertionError(f"{entry.name}: the output does not depend on the input")
            if ref.size:
                scale = max(float(np.abs(ref).max()), 1e-30)
                worst = max(worst, float(np.abs(ours.astype(np.float64) - ref).max()) / scale)
    return worst


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def declared_shape(value_info: onnx.ValueInfoProto) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def op_types(graph: onnx.GraphProto) -> set[str]:
    """Operator types of a graph and of its subgraphs (If/Loop bodies)."""
    found = set()
    for node in graph.node:
        found.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}")
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                found |= op_types(subgraph)
    return found


def strip_stack_traces(graph: onnx.GraphProto) -> None:
    """Drop the dynamo exporter's per-node source stack traces: they hold this machine's paths and
    line numbers of this script, so the files would change with every edit."""
    for node in graph.node:
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                strip_stack_traces(subgraph)


def generate(entry: Entry, seed: int) -> dict:
    torch.manual_seed(seed)
    model = fill_zero_parameters(entry.build())
    calibration = []
    for index in range(4):
        feeds = example_inputs(entry, -1, seed=100 + index)
        calibration.append(tuple(torch.from_numpy(feeds[s.name]) for s in entry.inputs))
    calibrate_batchnorm(model, calibration)
    if entry.finalize is not None:
        model = entry.finalize(model)
    path = MODELS / f"{entry.name}.onnx"
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmp_path = Path(tmp) / path.name
        export(entry, model, tmp_path)
        proto = onnx.load(str(tmp_path))
        onnx.checker.check_model(proto, full_check=True)
        proto.doc_string = f"gluon_onnx test corpus: {entry.description}"
        strip_stack_traces(proto.graph)
        onnx.save(proto, str(path))
    error = sanity_check(entry, model, path)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    initializers = {t.name for t in proto.graph.initializer}
    graph_inputs = {i.name: i for i in proto.graph.input}
    ops = sorted(op_types(proto.graph))
    print(f"{entry.name}: {path.stat().st_size / 1e6:.2f} MB, opset {opset}, torch vs onnxruntime {error:.2e}, "
          f"ops {' '.join(ops)}")
    return {
        "name": entry.name,
        "file": path.name,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "producer": f"{proto.producer_name} {proto.producer_version}",
        "exporter": entry.exporter,
        "opset": opset,
        "ir_version": proto.ir_version,
        "description": entry.description,
        "initializers_as_inputs": any(name in initializers for name in graph_inputs),
        "inputs": [
            {"name": s.name, "dtype": s.dtype, "shape": declared_shape(graph_inputs[s.name]), "values": s.values,
             **({"high": s.high} if s.values == "tokens" else {})}
            for s in entry.inputs
        ],
        "outputs": [o.name for o in proto.graph.output],
        "cases": [{s.name: concrete_shape(s, case) for s in entry.inputs} for case in entry.cases],
        "tolerance": entry.tolerance,
        "compare": entry.compare,
        **({"detection_outputs": entry.detection_outputs} if entry.detection_outputs else {}),
        "ops": ops,
        "seed": seed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these entries (default: all)")
    args = parser.parse_args(argv)
    all_entries = entries()
    unknown = set(args.names) - {e.name for e in all_entries}
    if unknown:
        parser.error(f"unknown entries {sorted(unknown)}")
    MODELS.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(MANIFEST.read_text())["models"] if MANIFEST.exists() else []
    by_name = {m["name"]: m for m in manifest}
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    for seed, entry in enumerate(all_entries):
        if args.names and entry.name not in args.names:
            continue
        if entry.needs:
            try:
                __import__(entry.needs)
            except ImportError:
                print(f"{entry.name}: skipped ({entry.needs} is not installed)")
                continue
        by_name[entry.name] = generate(entry, seed)
    order = [e.name for e in all_entries]
    models = sorted(by_name.values(), key=lambda m: order.index(m["name"]) if m["name"] in order else len(order))
    total = sum(m["bytes"] for m in models)
    MANIFEST.write_text(json.dumps({
        "generator": "tests/corpus/generate.py",
        "torch": torch.__version__.split("+")[0],
        "torchvision": torchvision.__version__.split("+")[0],
        "onnx": onnx.__version__,
        "models": models,
    }, indent=1) + "\n")
    print(f"{len(models)} models, {total / 1e6:.1f} MB")
    if total > SIZE_BUDGET_BYTES:
        print(f"the corpus exceeds its budget of {SIZE_BUDGET_BYTES / 1e6:.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
