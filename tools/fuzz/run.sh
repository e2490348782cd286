#!/usr/bin/env bash
# Coverage-guided fuzzing of DebertaSharp's file readers with AFL++ and SharpFuzz (docs/fuzzing.md).
#   tools/fuzz/run.sh [seconds-per-reader] [reader...]
# Installs afl++ (apt-get, when afl-fuzz is missing) and the sharpfuzz tool (SharpFuzz.CommandLine 2.3.0, into
# tools/fuzz/out/tools), publishes tools/fuzz/DebertaSharp.Fuzz to tools/fuzz/out/bin, instruments DebertaSharp.dll
# (and PureHDF.dll, the HDF5 library under the tf_h5 reader) there, then runs afl-fuzz on each reader for the given
# time (default 60 s; all readers when none is named) and prints executions, crashes and hangs per reader.
# Findings stay under tools/fuzz/out/findings/<reader>/default/{crashes,hangs}; replay one with the uninstrumented build
#   dotnet run -c Release --project tools/fuzz/DebertaSharp.Fuzz -- <reader> --replay FILE
# (the instrumented copy in tools/fuzz/out/bin crashes outside afl-fuzz: no coverage map to write to)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
readers=("$@")
if [ ${#readers[@]} -eq 0 ]; then
  readers=(safetensors torch_pickle tokenizer_json vocab_merges config_json tf_h5 csv tsv jsonl conll squad)
fi
out=tools/fuzz/out
mkdir -p "$out/tools" "$out/findings"

if ! command -v afl-fuzz >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq afl++
fi
if [ ! -x "$out/tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$out/tools"
fi

# A fresh publish each run: instrumentation rewrites the DLLs in place.
rm -rf "$out/bin"
dotnet publish tools/fuzz/DebertaSharp.Fuzz -c Release -o "$out/bin" -v quiet -nologo
"$out/tools/sharpfuzz" "$out/bin/DebertaSharp.dll"
"$out/tools/sharpfuzz" "$out/bin/PureHDF.dll" || echo "(PureHDF.dll not instrumented; tf_h5 coverage is DebertaSharp's only)"

# .NET is not compiled by afl-cc; the harness reports coverage through SharpFuzz's shared-memory protocol.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_AUTORESUME=1 AFL_NO_AFFINITY=1 DOTNET_TieredPGO=0
for r in "${readers[@]}"; do
  echo "== $r: ${seconds}s"
  # -t 2000: the per-input limit (FuzzHarnesses.TimeLimit); -m none: the CLR reserves far more address space than it
  # uses, so AFL's address-space limit cannot bound it (docs/fuzzing.md, "Memory").
  timeout $((seconds + 120)) afl-fuzz -i "tools/fuzz/seeds/$r" -o "$out/findings/$r" -t 2000 -m none -V "$seconds" \
    -- dotnet "$out/bin/DebertaSharp.Fuzz.dll" "$r" >"$out/findings/$r.log" 2>&1 || echo "   afl-fuzz exited $? (see $out/findings/$r.log)"
done

printf '\n%-15s %12s %8s %8s %8s %8s\n' reader executions seconds crashes hangs paths
for r in "${readers[@]}"; do
  stats="$out/findings/$r/default/fuzzer_stats"
  if [ -f "$stats" ]; then
    get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
    printf '%-15s %12s %8s %8s %8s %8s\n' "$r" "$(get execs_done)" "$(get run_time)" "$(get saved_crashes)" "$(get saved_hangs)" "$(get corpus_count)"
  else
    printf '%-15s %12s\n' "$r" "no fuzzer_stats (see $out/findings/$r.log)"
  fi
done
