#!/usr/bin/env bash
# Fine-tunes the four tasks on the real data slices shipped in tests/DebertaSharp.Tests/Fixtures/datasets, from scratch
# (no pretrained DeBERTa weights can be downloaded here) with the small config Fixtures/configs/deberta-tiny and the
# microsoft/deberta-base vocabulary, and prints each run's validation metrics. Deterministic (seed 42); about
# 10 minutes on 2 cores. Usage: tools/finetune_examples.sh [WORK_DIR]   (default /tmp/debertasharp-examples)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/debertasharp-examples}
mkdir -p "$work"
F=tests/DebertaSharp.Tests/Fixtures
dotnet build src/DebertaSharp.Cli -c Release -v q -nologo >/dev/null
deberta() { dotnet src/DebertaSharp.Cli/bin/Release/net10.0/deberta.dll "$@"; }
common=(--config_name $F/configs/deberta-tiny --tokenizer_name $F/deberta-base-vocab --do_train --do_eval --overwrite_output_dir
        --save_strategy no --logging_steps 50 --seed 42)

# Sentiment (UCI): every 5th sentence of each source held out for validation (1,600 train / 400 validation).
awk 'NR % 5 != 0' $F/datasets/sentiment/imdb_yelp.jsonl > "$work/sentiment_train.jsonl"
awk 'NR % 5 == 0' $F/datasets/sentiment/imdb_yelp.jsonl > "$work/sentiment_validation.jsonl"
deberta train text-classification "${common[@]}" --train_file "$work/sentiment_train.jsonl" \
  --validation_file "$work/sentiment_validation.jsonl" --test_file "$work/sentiment_validation.jsonl" --do_predict \
  --max_seq_length 64 --num_train_epochs 5 --learning_rate 1e-3 --per_device_train_batch_size 32 --output_dir "$work/sentiment" \
  | grep -A20 '^\*\*\*\*\* eval metrics'

# Wikigold NER: the first 1,200 sentences train, the last 300 validate.
head -n 1200 $F/datasets/wikigold/wikigold_1500.jsonl > "$work/ner_train.jsonl"
tail -n 300 $F/datasets/wikigold/wikigold_1500.jsonl > "$work/ner_validation.jsonl"
deberta train token-classification "${common[@]}" --train_file "$work/ner_train.jsonl" \
  --validation_file "$work/ner_validation.jsonl" --test_file "$work/ner_validation.jsonl" --do_predict \
  --num_train_epochs 10 --learning_rate 2e-3 --per_device_train_batch_size 16 --return_entity_level_metrics --output_dir "$work/ner" \
  | grep -A30 '^\*\*\*\*\* eval metrics'

# Masked LM on the sentiment sentences as plain text (5% split off for validation), line by line.
awk -F'"sentence": "' '{ s = $2; sub(/", "label".*/, "", s); gsub(/\\"/, "\"", s); print s }' $F/datasets/sentiment/imdb_yelp.jsonl > "$work/mlm.txt"
deberta train masked-lm "${common[@]}" --train_file "$work/mlm.txt" --line_by_line --max_seq_length 64 \
  --num_train_epochs 10 --learning_rate 1e-3 --per_device_train_batch_size 32 --output_dir "$work/mlm" \
  | grep -A12 '^\*\*\*\*\* eval metrics'

# XQuAD (SQuAD v1.1 format): the first 38 of 48 articles train, the last 10 validate.
python3 - "$F/datasets/xquad/xquad.en.json" "$work" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for name, part in (("train", d["data"][:38]), ("validation", d["data"][38:])):
    json.dump({"version": d.get("version", "1.1"), "data": part}, open(f"{sys.argv[2]}/qa_{name}.json", "w", encoding="utf-8"))
PY
deberta train question-answering "${common[@]}" --train_file "$work/qa_train.json" --validation_file "$work/qa_validation.json" \
  --max_seq_length 256 --doc_stride 64 --num_train_epochs 10 --learning_rate 1e-3 --per_device_train_batch_size 16 \
  --output_dir "$work/qa" | grep -A12 '^\*\*\*\*\* eval metrics'
