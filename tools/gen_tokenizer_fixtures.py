# Generates DebertaSharp's extra tokenizer fixtures with Hugging Face transformers (5.17) and tokenizers (0.23): the
# real microsoft/deberta-base vocabulary (tests/DebertaSharp.Tests/Fixtures/deberta-base-vocab) on text that the shared
# fixtures do not have (emoji and other astral characters, combining marks, CJK, CRLF and tabs, upper-case
# contractions, runs of spaces, special tokens inside text, numbers), with odd and even max_length, every truncation
# strategy, left padding, pad_to_multiple_of and split-into-words. Run where transformers is installed:
#   OUT=/some/empty/dir python3 tools/gen_tokenizer_fixtures.py
# It writes $OUT/tokenizer_extra.json and $OUT/log.txt.
import json, os, random, traceback

import tokenizers
import transformers
from transformers import AddedToken, DebertaTokenizerFast
from tokenizers.processors import TemplateProcessing

OUT = os.environ["OUT"]
HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "tests", "DebertaSharp.Tests", "Fixtures", "deberta-base-vocab")
LOG = open(os.path.join(OUT, "log.txt"), "w")


def log(*parts):
    line = " ".join(str(p) for p in parts)
    print(line, flush=True)
    LOG.write(line + "\n")


log("transformers", transformers.__version__, "tokenizers", tokenizers.__version__)

TEXTS = [
    "Hello world", " Hello world", "Hello  world", "Hello\tworld\r\nagain", "  leading and trailing  ",
    "I'M HERE, YOU'LL SEE; IT'S THEIRS. We'd've", "don't won't can't shan't y'all", "The price is $1,234.56 (or 1e-3)!",
    "emoji 😀👍🏽 and 👨‍👩‍👧 family", "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 𠜎𠜱", "e\u0301 vs \u00e9, n\u0303o", "中文字符和日本語のテキスト、한국어",
    "Ünïcödé façade naïve coöperate", "The capital of France is [MASK].", "[MASK] is the best way to learn.",
    "two  [MASK]  masks [MASK]", "a[SEP]b [CLS] c[PAD]d [UNK]", "tabs\t\tand\u00a0nbsp\u2003em space",
    "mixed: Ελληνικά, русский, עברית, العربية", "url https://example.com/a?b=c&d=e#f and mail x@y.z",
    "    ", "a", "!!!???...", "1 22 333 4444 55555 666666", "snake_case camelCase kebab-case PascalCase",
    "<html><body>Tag & entity &amp;</body></html>", "long " + "word " * 40, "newline\nonly\n\nblank",
]


def make_random_texts(n, seed):
    rng = random.Random(seed)
    pieces = ["the", " quick", " brown", "fox", "'s", "'LL", " 42", "3.14", " ", "  ", "\n", "\t", "😀", "é", "e\u0301",
              "中", "文", "[MASK]", " [MASK]", "[SEP]", "-", "—", "…", "\u00a0", "Ω", "ß", "İ", "x" * 7, "日本", "ـ"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(n)]


TEXTS += make_random_texts(30, 2026)


def record(t, text, pair=None, **kw):
    e = t(text, pair, return_special_tokens_mask=True, return_offsets_mapping=True, **kw)
    r = {k: (v if not hasattr(v, "tolist") else v.tolist()) for k, v in e.items()}
    r["offset_mapping"] = [list(x) for x in r["offset_mapping"]]
    r["tokens"] = e.tokens()
    return r


def safe(f):
    try:
        return f()
    except Exception as ex:  # the reference itself refuses: record the error kind
        return {"error": type(ex).__name__ + ": " + str(ex)[:200]}


vocab = json.load(open(os.path.join(VOCAB, "vocab.json")))
merges = [tuple(l.split()) for l in open(os.path.join(VOCAB, "merges.txt"), encoding="utf-8").read().split("\n")[1:] if l.strip()]
builds = {
    "base_default": dict(),
    "base_mask_lstrip": dict(mask_token=AddedToken("[MASK]", lstrip=True, rstrip=False)),
    "base_prefix_space": dict(add_prefix_space=True, mask_token=AddedToken("[MASK]", lstrip=True, rstrip=False)),
}
result = {"texts": TEXTS, "builds": {}}
for name, kw in builds.items():
    t = DebertaTokenizerFast(vocab=dict(vocab), merges=list(merges), **kw)
    if name == "base_mask_lstrip":
        t.backend_tokenizer.post_processor = TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", t.cls_token_id), ("[SEP]", t.sep_token_id)])
    d = os.path.join(OUT, "tok_" + name)
    t.save_pretrained(d)
    b = {"dir": "tok_" + name, "items": []}
    for i, text in enumerate(TEXTS):
        nxt = TEXTS[(i + 7) % len(TEXTS)]
        c = {"text": text, "pair": nxt}
        c["tokens"] = safe(lambda: t.tokenize(text))
        c["single"] = safe(lambda: record(t, text))
        c["no_special"] = safe(lambda: record(t, text, add_special_tokens=False))
        c["pair_full"] = safe(lambda: record(t, text, nxt))
        for ml in (9, 12, 17, 18, 25):
            for strat in ("longest_first", "only_first", "only_second"):
                c[f"pair_{strat}_{ml}"] = safe(lambda: record(t, text, nxt, truncation=strat, max_length=ml))
        c["single_trunc_7"] = safe(lambda: record(t, text, truncation=True, max_length=7))
        ids = c["single"]["input_ids"] if "input_ids" in c["single"] else []
        c["decode"] = safe(lambda: t.decode(ids))
        c["decode_skip"] = safe(lambda: t.decode(ids, skip_special_tokens=True))
        if name == "base_prefix_space":
            words = text.split()
            if words:
                def words_rec():
                    e = t(words, is_split_into_words=True, return_offsets_mapping=True, return_special_tokens_mask=True)
                    return {"words": words, "input_ids": e["input_ids"], "word_ids": e.word_ids(),
                            "offset_mapping": [list(x) for x in e["offset_mapping"]], "tokens": e.tokens()}
                c["split_into_words"] = safe(words_rec)
        b["items"].append(c)
    batch = TEXTS[:10]
    b["batch_longest_left_multiple8"] = safe(lambda: {k: v for k, v in t(batch, padding="longest", padding_side="left", pad_to_multiple_of=8, return_special_tokens_mask=True).items()})
    b["batch_max_length_20_truncated"] = safe(lambda: {k: v for k, v in t(batch, padding="max_length", truncation=True, max_length=20, return_special_tokens_mask=True).items()})
    result["builds"][name] = b
    log("built", name, "items", len(b["items"]))
json.dump(result, open(os.path.join(OUT, "tokenizer_extra.json"), "w"), ensure_ascii=False)
log("done")
