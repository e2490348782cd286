#!/usr/bin/env bash
# Rebuilds the project's own models (models/README.md) with deberta train, as they were made:
#   1. the corpus (tools/corpus/build.sh);
#   2. pretraining of models/deberta-sharp-small (masked LM; started for 5,000 steps, stopped after checkpoint-1500 and
#      resumed from it for 4,000 in all, as the shipped run was);
#   3. fp16 export of the pretrained model into models/deberta-sharp-small;
#   4. fine-tunes: sentiment (shipped as models/deberta-sharp-small-sentiment) and NER, each also from random
#      initialisation (same config, same arguments) for the comparison table.
# Usage: tools/models/build.sh [STAGE...]   stages: corpus pretrain export finetune (default: all)
# Work files go to ${WORK:-/tmp/debertasharp-models}. About 80 minutes on 2 cores (AVX-512 with AMX: bf16 pretraining).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="${WORK:-/tmp/debertasharp-models}"
mkdir -p "$work"
F=tests/DebertaSharp.Tests/Fixtures
stages=("${@:-corpus pretrain export finetune}")
stages=(${stages[*]})
has() { [[ " ${stages[*]} " == *" $1 "* ]]; }
dotnet build src/DebertaSharp.Cli -c Release -v q -nologo >/dev/null
deberta() { dotnet src/DebertaSharp.Cli/bin/Release/net10.0/deberta.dll "$@"; }

pretrain=(train masked-lm
  --config_name models/deberta-sharp-small/config-init --tokenizer_name $F/deberta-base-vocab
  --train_file corpus/train.txt --validation_file corpus/heldout.txt
  --do_train --do_eval --max_seq_length 128
  --per_device_train_batch_size 32 --per_device_eval_batch_size 64
  --learning_rate 5e-4 --warmup_steps 250 --weight_decay 0.01
  --logging_steps 50 --eval_strategy steps --eval_steps 500 --save_steps 500 --save_total_limit 3
  --bf16 --seed 42 --output_dir "$work/pretrain")

if has corpus; then tools/corpus/build.sh corpus; fi

if has pretrain; then
  # The shipped run was stopped (SIGTERM, which deberta train handles as Ctrl-C) after checkpoint-1500 was written, then resumed from it.
  deberta "${pretrain[@]}" --max_steps 5000 --overwrite_output_dir &
  pid=$!
  until [ -f "$work/pretrain/checkpoint-1500/trainer_state.json" ]; do sleep 10; done
  kill -TERM $pid; wait $pid || true
  # Resumed with max_steps 4000 instead of 5000 to fit the time the run had: the linear decay continues from
  # checkpoint-1500's step towards 4,000 (the learning rate steps down from 3.7e-4 to 3.3e-4 at the resume).
  deberta "${pretrain[@]}" --max_steps 4000 --resume_from_checkpoint "$work/pretrain/checkpoint-1500"
fi

if has export; then
  out=models/deberta-sharp-small
  deberta convert --model "$work/pretrain" --to pt --dtype float16 --output "$out"
  cp "$work/pretrain"/{vocab.json,merges.txt,tokenizer_config.json,special_tokens_map.json,trainer_state.json,training_args.json,all_results.json} "$out"/
  cp corpus/manifest.json "$out/corpus_manifest.json"
  # microsoft/deberta-base's tokenizer answers 512 tokens (transformers' max_model_input_sizes); vocab.json and
  # merges.txt alone do not say so, so the exported tokenizer_config.json gets it.
  sed -i '0,/{/s//{\n  "model_max_length": 512,/' "$out/tokenizer_config.json"
fi

if has finetune; then
  # Sentiment (UCI sentences): every 5th line held out (1,600 train / 400 held out), labels as names so that the model's
  # id2label says negative / positive.
  names='s/"label": 0}/"label": "negative"}/; s/"label": 1}/"label": "positive"}/'
  awk 'NR % 5 != 0' $F/datasets/sentiment/imdb_yelp.jsonl | sed "$names" > "$work/sentiment_train.jsonl"
  awk 'NR % 5 == 0' $F/datasets/sentiment/imdb_yelp.jsonl | sed "$names" > "$work/sentiment_heldout.jsonl"
  # Wikigold NER: the first 1,200 sentences train, the last 300 are held out.
  head -n 1200 $F/datasets/wikigold/wikigold_1500.jsonl > "$work/ner_train.jsonl"
  tail -n 300 $F/datasets/wikigold/wikigold_1500.jsonl > "$work/ner_heldout.jsonl"
  common=(--do_train --do_eval --overwrite_output_dir --save_strategy no --logging_steps 25 --seed 42)
  sentiment=(train text-classification "${common[@]}" --train_file "$work/sentiment_train.jsonl"
    --validation_file "$work/sentiment_heldout.jsonl" --max_seq_length 64 --per_device_train_batch_size 32
    --num_train_epochs 5 --warmup_ratio 0.1)
  ner=(train token-classification "${common[@]}" --train_file "$work/ner_train.jsonl" --validation_file "$work/ner_heldout.jsonl"
    --max_seq_length 128 --per_device_train_batch_size 16 --num_train_epochs 10 --warmup_ratio 0.1
    --return_entity_level_metrics)
  pretrained=(--model_name_or_path models/deberta-sharp-small)
  scratch=(--config_name models/deberta-sharp-small --tokenizer_name models/deberta-sharp-small)
  # The same arguments from the pretrained weights and from random ones; random initialisation also at the higher
  # learning rate the README's from-scratch examples use (tools/finetune_examples.sh), which suits it better.
  deberta "${sentiment[@]}" --learning_rate 3e-4 "${pretrained[@]}" --output_dir "$work/sentiment"
  deberta "${sentiment[@]}" --learning_rate 3e-4 "${scratch[@]}" --output_dir "$work/sentiment-scratch"
  deberta "${sentiment[@]}" --learning_rate 1e-3 "${scratch[@]}" --output_dir "$work/sentiment-scratch-1e-3"
  deberta "${ner[@]}" --learning_rate 5e-4 "${pretrained[@]}" --output_dir "$work/ner"
  deberta "${ner[@]}" --learning_rate 5e-4 "${scratch[@]}" --output_dir "$work/ner-scratch"
  deberta "${ner[@]}" --learning_rate 2e-3 "${scratch[@]}" --output_dir "$work/ner-scratch-2e-3"
  for run in sentiment sentiment-scratch sentiment-scratch-1e-3 ner ner-scratch ner-scratch-2e-3; do
    echo "$run: $(cat "$work/$run/all_results.json" | tr -d '\n ')"
  done
  out=models/deberta-sharp-small-sentiment
  deberta convert --model "$work/sentiment" --to pt --dtype float16 --output "$out"
  cp "$work/sentiment"/{vocab.json,merges.txt,tokenizer_config.json,special_tokens_map.json,trainer_state.json,training_args.json,all_results.json} "$out"/
fi
