"""Convert a TF.js graph model (model.json + weight shards) back into a TF SavedModel.

    python -m smartshelf.detectors.tfjs_convert SRC_DIR DST_SAVEDMODEL_DIR

model.json's `modelTopology` is a GraphDef in proto-JSON with the weights stripped out of its
Const nodes; `weightsManifest` says where each weight sits in the shards and how it was
quantised. We dequantise the weights, put them back as Const values, undo the converter's
TF.js-only fused ops (FusedDepthwiseConv2dNative has no TF kernel) and save a v1 SavedModel whose
`serving_default` signature uses the TF Object Detection API output names. No tensorflowjs
package needed. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartshelf.errors import ModelError, UserError

log = logging.getLogger(__name__)

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8,
           "int8": np.int8, "uint16": np.uint16, "float16": np.float16, "int64": np.int64}

# TF2 OD API `exporter_main_v2` outputs; the exported signature names them Identity, Identity_1,
# ... in this (alphabetical) order. Older exports carry only the first four standard ones.
OD_OUTPUTS_FULL = ("detection_anchor_indices", "detection_boxes", "detection_classes",
                   "detection_multiclass_scores", "detection_scores", "num_detections",
                   "raw_detection_boxes", "raw_detection_scores")
OD_OUTPUTS_BASIC = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")
# What the rank / last dimension of each output must be (checked before we trust the order).
_OD_RANK = {"detection_anchor_indices": 2, "detection_boxes": 3, "detection_classes": 2,
            "detection_multiclass_scores": 3, "detection_scores": 2, "num_detections": 1,
            "raw_detection_boxes": 3, "raw_detection_scores": 3}

_FUSED = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
          "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative", "_FusedMatMul": "MatMul"}
_KEEP_ATTRS = {"Conv2D": ("T", "strides", "padding", "dilations", "data_format", "explicit_paddings",
                          "use_cudnn_on_gpu"),
               "DepthwiseConv2dNative": ("T", "strides", "padding", "dilations", "data_format",
                                         "explicit_paddings"),
               "MatMul": ("T", "transpose_a", "transpose_b")}
_ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "Selu"}


def dequantize(raw: bytes, dtype: str, quant: dict[str, Any] | None) -> npt.NDArray[Any]:
    """One weight's bytes -> its values, undoing TF.js quantisation. Pure.

    TF.js stores uint8 / uint16 (and int8) weights as value = q * scale + min, or float16.
    """
    if quant is None:
        if dtype not in _DTYPES:
            raise ValueError(f"unsupported weight dtype {dtype!r}")
        return np.frombuffer(raw, dtype=_DTYPES[dtype]).copy()
    qdtype = quant.get("dtype")
    if qdtype == "float16":
        return np.frombuffer(raw, dtype=np.float16).astype(_DTYPES[dtype])
    if qdtype in ("uint8", "uint16", "int8"):
        q = np.frombuffer(raw, dtype=_DTYPES[qdtype]).astype(np.float64)
        values = q * float(quant["scale"]) + float(quant.get("min", 0.0))
        return values.astype(_DTYPES[dtype])
    raise ValueError(f"unsupported TF.js quantization dtype {qdtype!r}")


def _stored_size(dtype: str, quant: dict[str, Any] | None, count: int) -> int:
    key = quant["dtype"] if quant else dtype
    if key not in _DTYPES:
        raise ValueError(f"unsupported weight dtype {key!r}")
    return count * np.dtype(_DTYPES[key]).itemsize


def read_weights(src: Path, manifest: list[dict[str, Any]]) -> dict[str, npt.NDArray[Any]]:
    """name -> dequantised array for every weight in the manifest's shard groups."""
    out: dict[str, npt.NDArray[Any]] = {}
    for group in manifest:
        buf = b"".join((src / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            size = _stored_size(w["dtype"], quant, count)
            if offset + size > len(buf):
                raise ModelError(str(src / group["paths"][-1]),
                                 f"weight shards are too short: {w['name']} needs bytes "
                                 f"{offset}..{offset + size}, the shards hold {len(buf)}")
            out[w["name"]] = dequantize(buf[offset:offset + size], w["dtype"], quant).reshape(shape)
            offset += size
    return out


def _unfuse(graph_def: Any) -> None:
    """Replace fused conv / matmul nodes by the plain op + BiasAdd + activation, in place."""
    from tensorflow.core.framework import node_def_pb2

    new_nodes = []
    for node in graph_def.node:
        base = _FUSED.get(node.op)
        if base is None:
            new_nodes.append(node)
            continue
        fused = [base64.b64decode(s).decode() if isinstance(s, str) else s.decode()
                 for s in node.attr["fused_ops"].list.s]
        if not fused or fused[0] != "BiasAdd" or any(op not in _ACTIVATIONS for op in fused[1:]) \
                or len(fused) > 2 or len(node.input) != 3:
            raise ModelError(node.name, f"fused op {node.op} {fused} is not supported by the converter")
        conv = node_def_pb2.NodeDef(name=f"{node.name}/unfused_{base}", op=base,
                                    input=list(node.input[:2]))
        for key in _KEEP_ATTRS[base]:
            if key in node.attr:
                conv.attr[key].CopyFrom(node.attr[key])
        names = [conv.name]
        bias_name = node.name if len(fused) == 1 else f"{node.name}/unfused_BiasAdd"
        bias = node_def_pb2.NodeDef(name=bias_name, op="BiasAdd", input=[conv.name, node.input[2]])
        bias.attr["T"].CopyFrom(node.attr["T"])
        if "data_format" in node.attr and base != "MatMul":
            bias.attr["data_format"].CopyFrom(node.attr["data_format"])
        new_nodes.extend([conv, bias])
        names.append(bias.name)
        if len(fused) == 2:  # the activation keeps the fused node's name: consumers point at it
            act = node_def_pb2.NodeDef(name=node.name, op=fused[1], input=[bias.name])
            act.attr["T"].CopyFrom(node.attr["T"])
            new_nodes.append(act)
    del graph_def.node[:]
    graph_def.node.extend(new_nodes)


def _identity_rank(name: str) -> int:
    m = re.fullmatch(r"Identity(?:_(\d+))?:0", name)
    return -1 if m is None else int(m.group(1) or 0)


def od_output_names(signature: dict[str, Any], path: str) -> dict[str, str]:
    """OD API output name -> graph tensor name, from model.json's signature. Pure."""
    outputs = signature.get("outputs", {})
    tensors = sorted(outputs, key=_identity_rank)
    by_count = {len(OD_OUTPUTS_FULL): OD_OUTPUTS_FULL, len(OD_OUTPUTS_BASIC): OD_OUTPUTS_BASIC}
    wanted = by_count.get(len(tensors))
    if wanted is None or any(_identity_rank(t) < 0 for t in tensors):
        raise ModelError(path, f"expected the 4 or 8 TF OD API outputs named Identity..Identity_N, "
                               f"got {sorted(outputs)}")
    mapping = dict(zip(wanted, tensors, strict=True))
    for name, tensor in mapping.items():
        dims = outputs[tensor].get("tensorShape", {}).get("dim", [])
        if len(dims) != _OD_RANK[name] or (name.endswith("boxes") and int(dims[-1]["size"]) != 4):
            raise ModelError(path, f"output {tensor} should be {name} (rank {_OD_RANK[name]}), got "
                                   f"shape {[int(d['size']) for d in dims]}")
    return mapping


def convert(src: Path, dst: Path) -> Path:
    """Convert the TF.js graph model in `src` into a SavedModel at `dst` (must not exist)."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2

    src, dst = Path(src), Path(dst)
    model_json = src / "model.json"
    try:
        spec = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(str(model_json), f"cannot read TF.js model.json: {exc}") from None
    if spec.get("format") != "graph-model" or "modelTopology" not in spec:
        raise ModelError(str(model_json), f"expected a TF.js graph-model, got format {spec.get('format')!r}")
    if dst.exists():
        raise UserError(f"{dst}: already exists; pick a new folder for the SavedModel")
    weights = read_weights(src, spec["weightsManifest"])
    graph_def = json_format.ParseDict(spec["modelTopology"], graph_pb2.GraphDef(),
                                      ignore_unknown_fields=True)
    filled = 0
    for node in graph_def.node:
        node.device = ""
        if node.op == "Const" and node.name in weights:
            tensor = tf.make_tensor_proto(weights[node.name])
            node.attr["value"].tensor.CopyFrom(tensor)
            node.attr["dtype"].type = tensor.dtype
            filled += 1
    if filled != len(weights):
        raise ModelError(str(model_json), f"{len(weights) - filled} weights have no Const node to go into")
    _unfuse(graph_def)
    signature = spec.get("signature") or spec.get("userDefinedMetadata", {}).get("signature", {})
    outputs = od_output_names(signature, str(model_json))
    inputs = list(signature.get("inputs", {}))
    if len(inputs) != 1:
        raise ModelError(str(model_json), f"expected one input tensor, got {inputs}")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            sig = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"input_tensor": graph.get_tensor_by_name(inputs[0])},
                outputs={k: graph.get_tensor_by_name(v) for k, v in outputs.items()})
            builder = tf.compat.v1.saved_model.Builder(str(dst))
            builder.add_meta_graph_and_variables(sess, [tf.compat.v1.saved_model.tag_constants.SERVING],
                                                 signature_def_map={"serving_default": sig})
            builder.save()
    log.info("converted %s (%d weights) into SavedModel %s", src, filled, dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartshelf.detectors.tfjs_convert",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("src", help="folder with model.json and its weight shards")
    parser.add_argument("dst", help="new folder for the SavedModel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        convert(Path(args.src), Path(args.dst))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
