#!/usr/bin/env python3
"""Writes tests/DebertaSharp.Tests/Fixtures/tf_h5: tf_model.h5 files in Keras's save_weights layout, made with h5py
(libhdf5), independently of DebertaSharp's own writer, from the Hugging Face PyTorch fixture checkpoints.

Run with Debian's h5py and numpy (apt-get install python3-h5py): /usr/bin/python3 tools/make_tf_h5_fixtures.py

The Keras names are derived here from the PyTorch names by the inverse of transformers 4.x's
convert_tf_weight_name_to_pt_weight_name (DebertaSharp derives them the other way, from the configuration), and the
file is laid out as tf-keras's hdf5_format.save_weights_to_hdf5_group does: root attributes layer_names / backend /
keras_version, one group per top-level layer (sorted) with the attribute weight_names, and each weight a dataset at
<layer>/<full weight name> ('/' nests groups; h5py creates them). Lists are numpy byte-string arrays (|S<n>), as
np.asarray(list of bytes) makes them, except where a variant says otherwise.
"""
import json, os, shutil, struct, sys
import numpy as np
import h5py

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "DebertaSharp.Tests", "Fixtures")
OUT = os.path.join(ROOT, "tf_h5")

MODEL_NAMES = {  # Keras default names: snake case of the TF class name
    "DebertaModel": "tf_deberta_model",
    "DebertaForMaskedLM": "tf_deberta_for_masked_lm",
    "DebertaForSequenceClassification": "tf_deberta_for_sequence_classification",
    "DebertaForTokenClassification": "tf_deberta_for_token_classification",
    "DebertaForQuestionAnswering": "tf_deberta_for_question_answering",
}
# model.layers of each TF class, in attribute order (TFDebertaForSequenceClassification: deberta, pooler, cls_dropout,
# classifier; TFDebertaForTokenClassification: deberta, an unnamed keras Dropout ("dropout"), classifier).
LAYERS = {
    "DebertaModel": ["deberta"],
    "DebertaForMaskedLM": ["deberta", "cls"],
    "DebertaForSequenceClassification": ["deberta", "pooler", "cls_dropout", "classifier"],
    "DebertaForTokenClassification": ["deberta", "dropout", "classifier"],
    "DebertaForQuestionAnswering": ["deberta", "qa_outputs"],
}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (path, k, v["dtype"])
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype="<f4").reshape(v["shape"]).copy()
    return out


def keras_name(pt):
    """PyTorch name -> (Keras name below the model, transpose)."""
    parts = pt.split(".")
    if parts[-2:] == ["rel_embeddings", "weight"]:
        return "/".join(parts[:-2]) + "/rel_embeddings.weight:0", False
    out, i = [], 0
    while i < len(parts) - 1:
        if parts[i] == "layer" and parts[i + 1].isdigit():
            out.append("layer_._" + parts[i + 1]); i += 2
        else:
            out.append(parts[i]); i += 1
    last, parent = parts[-1], out[-1] if out else ""
    if parent == "word_embeddings":
        return "/".join(out) + "/weight:0", False
    if parent in ("position_embeddings", "token_type_embeddings"):
        return "/".join(out) + "/embeddings:0", False
    if parent == "LayerNorm":
        return "/".join(out) + ("/gamma:0" if last == "weight" else "/beta:0"), False
    if last == "weight":
        return "/".join(out) + "/kernel:0", True
    return "/".join(out + [last]) + ":0", False


def fixed(names):
    return np.asarray([n.encode("utf8") for n in names])


def write(src_dir, dst_dir, vlen=False, split=1, model_suffix="", mutate=None, latest=False):
    config = json.load(open(os.path.join(src_dir, "config.json")))
    arch = config["architectures"][0]
    model = MODEL_NAMES[arch] + model_suffix
    state = read_safetensors(os.path.join(src_dir, "model.safetensors"))
    groups = {layer: [] for layer in LAYERS[arch]}
    for pt, value in state.items():
        if arch == "DebertaModel":
            pt = "deberta." + pt
        if pt.startswith("lm_predictions.lm_head."):
            # transformers 5's non-legacy MLM head; the TF class has only cls/predictions, which computes the same
            # LayerNorm(act(dense(h))) @ E^T + bias when embedding_size == hidden_size.
            rest = pt[len("lm_predictions.lm_head."):]
            pt = "cls.predictions.bias" if rest == "bias" else "cls.predictions.transform." + rest
        name, transpose = keras_name(pt)
        groups[name.split("/")[0]].append((model + "/" + name, value.T.copy() if transpose else value))
    if arch == "DebertaForMaskedLM":
        # The prediction head tracks the input embeddings layer, so "cls" lists (and stores) its weights too.
        groups["cls"] += [(n, v) for n, v in groups["deberta"] if "/deberta/embeddings/" in n]
    if mutate:
        mutate(groups)
    os.makedirs(dst_dir, exist_ok=True)
    shutil.copy(os.path.join(src_dir, "config.json"), os.path.join(dst_dir, "config.json"))
    strings = h5py.string_dtype("utf-8")
    with h5py.File(os.path.join(dst_dir, "tf_model.h5"), "w", libver="latest" if latest else "earliest") as f:
        f.attrs["layer_names"] = np.asarray(LAYERS[arch], dtype=strings) if vlen else fixed(LAYERS[arch])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for layer in sorted(groups):
            g = f.create_group(layer)
            names = [n for n, _ in groups[layer]]
            if not names:
                g.attrs["weight_names"] = []
            elif split > 1 and layer == "deberta":
                for i, chunk in enumerate(np.array_split(fixed(names), split)):
                    g.attrs["weight_names%d" % i] = chunk
            else:
                g.attrs["weight_names"] = np.asarray(names, dtype=strings) if vlen else fixed(names)
            for n, v in groups[layer]:
                if v is None or n in g:    # None: listed in weight_names, not stored (the bad/missing_dataset case)
                    continue
                if latest:   # newest file-format objects, chunked and deflated datasets: not what Keras writes, but readable
                    g.create_dataset(n, data=v, chunks=True, compression="gzip")
                else:
                    d = g.create_dataset(n, v.shape, dtype=v.dtype)
                    d[...] = v


def main():
    if os.path.isdir(OUT):   # everything but README.md
        for entry in os.listdir(OUT):
            if entry != "README.md":
                shutil.rmtree(os.path.join(OUT, entry))
    models = os.path.join(ROOT, "models")
    for variant in sorted(os.listdir(models)):
        for head in sorted(os.listdir(os.path.join(models, variant))):
            src = os.path.join(models, variant, head)
            if not os.path.isfile(os.path.join(src, "model.safetensors")):
                continue
            kwargs = {}
            if variant == "rel_c2p_clamped":
                kwargs["vlen"] = True            # variable-length UTF-8 name lists
            if variant == "abs_token_type":
                kwargs["split"] = 3              # weight_names0..2, as Keras splits lists over 64512 bytes
            if variant == "rel_p2c_embed_proj":
                kwargs["model_suffix"] = "_1"    # a second model built in one process: the first component differs
            if variant == "problem_types":
                kwargs["latest"] = True          # libver="latest", chunked gzip datasets
            write(src, os.path.join(OUT, variant, head), **kwargs)

    base = os.path.join(models, "rel_c2p_p2c", "base")
    bad = os.path.join(OUT, "bad")

    def drop_dataset(groups):
        groups["deberta"] = [(n, v) if not n.endswith("layer_._1/intermediate/dense/kernel:0") else (n, None) for n, v in groups["deberta"]]

    def misshape(groups):
        groups["deberta"] = [(n, v[:, :-1].copy() if n.endswith("layer_._0/attention/self/in_proj/kernel:0") else v) for n, v in groups["deberta"]]

    def wrong_dtype(groups):
        groups["deberta"] = [(n, v.astype(np.int32) if n.endswith("encoder/rel_embeddings.weight:0") else v) for n, v in groups["deberta"]]

    def other_family(groups):
        groups["deberta"] = [(n.replace("tf_deberta_model/deberta/", "tf_bert_model/bert/"), v) for n, v in groups["deberta"]]

    for name, mutate in [("missing_dataset", drop_dataset), ("misshaped", misshape), ("wrong_dtype", wrong_dtype), ("other_family", other_family)]:
        write(base, os.path.join(bad, name), mutate=lambda g, m=mutate: m(g))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
