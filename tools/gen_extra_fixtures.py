# Generates DebertaSharp's extra reference fixtures with Hugging Face transformers (PyTorch, CPU, fp32, one thread):
# configurations beyond the shared public ones (other activations, sizes, spans, token types, pos_att_type strings,
# hub-style MLM checkpoints whose config leaves `legacy` at its default, sequence-classification label rules with
# problem_type unset, half-precision compute). Same file layout as the shared fixtures: see
# tests/DebertaSharp.Tests/Fixtures/README.md. Run where torch + transformers are installed:
#   OUT=/some/empty/dir python3 tools/gen_extra_fixtures.py
# It writes $OUT/extra.tar.gz (folder extra/) and $OUT/log.txt.
import copy, json, os, shutil, sys, tarfile, tempfile, time, traceback

import torch
import transformers
from safetensors.torch import save_file
from transformers import (DebertaConfig, DebertaForMaskedLM, DebertaForQuestionAnswering,
                          DebertaForSequenceClassification, DebertaForTokenClassification, DebertaModel)

OUT = os.environ["OUT"]
ROOT = tempfile.mkdtemp(prefix="extra-") + "/extra"
os.makedirs(ROOT)
LOG = open(os.path.join(OUT, "log.txt"), "w")


def log(*parts):
    line = " ".join(str(p) for p in parts)
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


torch.set_num_threads(1)
log("torch", torch.__version__, "transformers", transformers.__version__)

HEAD_CLASSES = {
    "base": DebertaModel,
    "masked_lm": DebertaForMaskedLM,
    "sequence_classification": DebertaForSequenceClassification,
    "token_classification": DebertaForTokenClassification,
    "question_answering": DebertaForQuestionAnswering,
}
NUM_LABELS = {"sequence_classification": 3, "token_classification": 5}

SMALL = dict(vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=6, intermediate_size=50,
             hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=80,
             initializer_range=0.02)

# name -> (config overrides, heads)
VARIANTS = {
    # relative c2p|p2c as the hub writes it (a string), absolute positions too, three token types, gelu_fast
    "rel_string_tt3_gelu_fast": (dict(relative_attention=True, pos_att_type="c2p|p2c", position_biased_input=True,
                                      max_relative_positions=10, type_vocab_size=3, hidden_act="gelu_fast"), list(HEAD_CLASSES)),
    # p2c|c2p in upper case with spaces, plus p2p (counted in the scale factor, not computed), quick_gelu, span 4
    "rel_p2p_quick_gelu": (dict(relative_attention=True, pos_att_type="P2C | c2p|p2p", position_biased_input=False,
                                max_relative_positions=4, hidden_act="quick_gelu", pooler_hidden_act="tanh"),
                           ["base", "sequence_classification", "question_answering"]),
    # c2p only, silu, span larger than any sequence, no absolute positions
    "rel_c2p_silu": (dict(relative_attention=True, pos_att_type=["c2p"], position_biased_input=False,
                          max_relative_positions=128, hidden_act="silu", legacy=False), ["base", "masked_lm", "token_classification"]),
    # absolute positions only, mish, two token types, non-default eps and layer count
    "abs_mish_eps": (dict(relative_attention=False, position_biased_input=True, type_vocab_size=2, hidden_act="mish",
                          layer_norm_eps=1e-5, num_hidden_layers=1), ["base", "masked_lm", "sequence_classification"]),
    # relative attention with an empty pos_att_type list (no c2p, no p2c: plain attention, scale sqrt(d))
    "rel_no_pos_att_tanh": (dict(relative_attention=True, pos_att_type=[], position_biased_input=True,
                                 hidden_act="tanh"), ["base"]),
    "gelu_pytorch_tanh_tt2": (dict(relative_attention=True, pos_att_type=["p2c", "c2p"], position_biased_input=True,
                                   max_relative_positions=-1, type_vocab_size=2, hidden_act="gelu_pytorch_tanh"),
                              ["base", "question_answering"]),
    "swish_linear_pooler": (dict(relative_attention=False, position_biased_input=True, hidden_act="swish",
                                 pooler_hidden_act="linear"), ["base", "sequence_classification"]),
    "relu_embed_proj_c2p_p2c": (dict(relative_attention=True, pos_att_type=["c2p", "p2c"], position_biased_input=True,
                                     embedding_size=20, max_relative_positions=8, hidden_act="relu"),
                                ["base", "token_classification"]),
    # talking_head (older DeBERTa option): recorded only if this transformers version implements it
    "talking_head": (dict(relative_attention=True, pos_att_type=["c2p", "p2c"], position_biased_input=False,
                          talking_head=True), ["base"]),
}


def make_inputs(cfg, lens, seed):
    g = torch.Generator().manual_seed(seed)
    B, S = len(lens), max(lens)
    ids = torch.randint(4, cfg.vocab_size, (B, S), generator=g)
    mask = torch.zeros(B, S, dtype=torch.long)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
        ids[b, n:] = cfg.pad_token_id
    ids[:, 0] = 1
    inputs = {"input_ids": ids, "attention_mask": mask}
    if cfg.type_vocab_size > 0:
        tt = torch.zeros(B, S, dtype=torch.long)
        for b, n in enumerate(lens):
            tt[b, n // 3:n] = 1
            if cfg.type_vocab_size > 2:
                tt[b, 2 * n // 3:n] = 2
        inputs["token_type_ids"] = tt
    return inputs


def make_labels(head, cfg, inputs, g):
    B, S = inputs["input_ids"].shape
    if head == "masked_lm":
        lab = torch.full((B, S), -100, dtype=torch.long)
        sel = (torch.rand(B, S, generator=g) < 0.4) & inputs["attention_mask"].bool()
        lab[sel] = inputs["input_ids"][sel]
        return {"labels": lab}
    if head == "sequence_classification":
        return {"labels": torch.randint(0, cfg.num_labels, (B,), generator=g)}
    if head == "token_classification":
        lab = torch.randint(0, cfg.num_labels, (B, S), generator=g)
        lab[inputs["attention_mask"] == 0] = -100
        return {"labels": lab}
    if head == "question_answering":
        st = torch.randint(0, S, (B,), generator=g)
        en = torch.clamp(st + 3, max=S - 1)
        en[0] = S + 2  # out of range end: clamped to S and ignored
        return {"start_positions": st, "end_positions": en}
    return {}


def dump(path, inputs, outputs):
    t = {}
    for k, v in inputs.items():
        t["input." + k] = v.detach().clone().contiguous()
    for k, v in outputs.items():
        if v is None:
            continue
        if isinstance(v, (tuple, list)):
            for i, x in enumerate(v):
                t[f"output.{k}.{i}"] = x.detach().float().clone().contiguous()
        else:
            t["output." + k] = v.detach().float().clone().contiguous()
    save_file(t, path)


def perturb(model):
    # non-trivial LayerNorm and biases, so that a loader that skips them fails
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias") or "LayerNorm" in n or n.endswith("_bias"):
                p.add_(torch.randn_like(p) * 0.05)


def gen_variants():
    for vi, (vname, (opts, heads)) in enumerate(VARIANTS.items()):
        for hi, hname in enumerate(heads):
            d = f"{ROOT}/models/{vname}/{hname}"
            try:
                kw = dict(SMALL)
                kw.update(opts)
                if hname in NUM_LABELS:
                    kw["num_labels"] = NUM_LABELS[hname]
                cfg = DebertaConfig(**kw)
                torch.manual_seed(5000 + 100 * vi + hi)
                m = HEAD_CLASSES[hname](cfg).eval()
                if opts.get("talking_head") and not any("head_logits_proj" in n for n, _ in m.named_parameters()):
                    log(f"[skip] {vname}: this transformers version has no talking_head parameters")
                    continue
                perturb(m)
                m.save_pretrained(d)
                json.dump({n: list(p.shape) for n, p in m.state_dict().items()}, open(d + "/state_dict_keys.json", "w"), indent=1)
                g = torch.Generator().manual_seed(6000 + vi)
                cases = {"padded": [21, 13, 6, 1], "single": [11], "long": [min(cfg.max_position_embeddings, 70), 33]}
                for ci, (cname, lens) in enumerate(cases.items()):
                    inp = make_inputs(cfg, lens, 7000 + 10 * vi + ci)
                    lab = make_labels(hname, cfg, inp, g)
                    with torch.no_grad():
                        out = m(**inp, **lab, output_hidden_states=True, output_attentions=True)
                    dump(f"{d}/expected_{cname}.safetensors", {**inp, **lab}, dict(out))
                if hname == "base":
                    # explicit position_ids (shifted) where absolute positions exist
                    if cfg.position_biased_input:
                        inp = make_inputs(cfg, [9, 7], 7100 + vi)
                        inp["position_ids"] = torch.arange(9).unsqueeze(0).repeat(2, 1) + 3
                        with torch.no_grad():
                            out = m(**inp, output_hidden_states=True)
                        dump(f"{d}/expected_position_ids.safetensors", inp, dict(out))
                    # half-precision compute, as HF runs it on CPU
                    for dt, tag in ((torch.bfloat16, "bf16"), (torch.float16, "fp16")):
                        try:
                            mh = copy.deepcopy(m).to(dt).eval()
                            inp = make_inputs(cfg, [15, 8], 7200 + vi)
                            with torch.no_grad():
                                out = mh(**inp)
                            dump(f"{d}/expected_{tag}_compute.safetensors", inp, dict(out))
                        except Exception as ex:
                            log(f"[skip] {vname} {tag} compute: {type(ex).__name__}: {str(ex)[:200]}")
                log(f"[ok] {vname}/{hname}")
            except Exception:
                log(f"[FAIL] {vname}/{hname} in the reference itself:\n" + traceback.format_exc()[-1500:])
                shutil.rmtree(d, ignore_errors=True)


def gen_hub_style_mlm():
    # microsoft/deberta-base's layout: lm_predictions.lm_head.* weights, config.json without `legacy` (so HF's
    # default legacy=True builds the cls.predictions head and initialises it randomly). The expected outputs are
    # those of the head that uses the checkpoint's weights (legacy=False).
    kw = dict(SMALL)
    kw.update(relative_attention=True, pos_att_type="c2p|p2c", position_biased_input=False, legacy=False)
    cfg = DebertaConfig(**kw)
    torch.manual_seed(8100)
    m = DebertaForMaskedLM(cfg).eval()
    perturb(m)
    d = f"{ROOT}/hub_style_mlm"
    m.save_pretrained(d)
    c = json.load(open(d + "/config.json"))
    c.pop("legacy", None)
    json.dump(c, open(d + "/config.json", "w"), indent=2)
    inp = make_inputs(cfg, [12, 7], 8101)
    g = torch.Generator().manual_seed(8102)
    lab = make_labels("masked_lm", cfg, inp, g)
    with torch.no_grad():
        out = m(**inp, **lab)
    dump(d + "/expected.safetensors", {**inp, **lab}, dict(out))
    log("[ok] hub_style_mlm", sorted(k for k in m.state_dict() if "lm_" in k))


def gen_label_rules():
    # sequence classification with problem_type unset: the rules HF applies from num_labels and the labels' dtype
    kw = dict(SMALL)
    kw.update(relative_attention=True, pos_att_type=["c2p", "p2c"], position_biased_input=False)
    cases = {
        "unset_one_label_mse": (1, lambda g: torch.randn(4, generator=g)),
        "unset_int_labels_with_ignored": (3, lambda g: torch.tensor([2, -1, 0, 1])),
        "unset_all_ignored": (3, lambda g: torch.tensor([-1, -1, -1, -1])),
        "unset_soft_labels": (3, lambda g: torch.softmax(torch.randn(4, 3, generator=g), -1)),
    }
    for i, (name, (nl, labf)) in enumerate(cases.items()):
        try:
            cfg = DebertaConfig(**kw, num_labels=nl)
            torch.manual_seed(8200 + i)
            m = DebertaForSequenceClassification(cfg).eval()
            perturb(m)
            d = f"{ROOT}/label_rules/{name}"
            m.save_pretrained(d)
            inp = make_inputs(cfg, [10, 8, 5, 3], 8210 + i)
            lab = labf(torch.Generator().manual_seed(8220 + i))
            with torch.no_grad():
                out = m(**inp, labels=lab)
            dump(d + "/expected.safetensors", {**inp, "labels": lab}, dict(out))
            log(f"[ok] label_rules/{name} loss={float(out.loss) if out.loss is not None else None}")
        except Exception:
            log(f"[FAIL] label_rules/{name}:\n" + traceback.format_exc()[-800:])


def gen_base_into_heads():
    # a bare DebertaModel checkpoint (no `deberta.` prefix) loaded into a head model: the encoder output must equal
    # the base model's; the head weights are new. Recorded: the base model's hidden state for the same input.
    kw = dict(SMALL)
    kw.update(relative_attention=True, pos_att_type="c2p|p2c", position_biased_input=False)
    cfg = DebertaConfig(**kw)
    torch.manual_seed(8300)
    m = DebertaModel(cfg).eval()
    perturb(m)
    d = f"{ROOT}/bare_base"
    m.save_pretrained(d)
    inp = make_inputs(cfg, [10, 6], 8301)
    with torch.no_grad():
        out = m(**inp)
    dump(d + "/expected.safetensors", inp, dict(out))
    log("[ok] bare_base")


t0 = time.time()
for f in (gen_variants, gen_hub_style_mlm, gen_label_rules, gen_base_into_heads):
    try:
        f()
    except Exception:
        log(f"[FAIL] {f.__name__}\n" + traceback.format_exc())
with tarfile.open(os.path.join(OUT, "extra.tar.gz"), "w:gz") as tf:
    tf.add(ROOT, arcname="extra")
log("done in", round(time.time() - t0, 1), "s; archive bytes", os.path.getsize(os.path.join(OUT, "extra.tar.gz")))
