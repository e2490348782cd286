#!/usr/bin/env bash
# DebertaSharp as a user gets it (README, "Install"), run by .ci/run:
#  1. packs the repository (dotnet pack -c Release -o FEED) with a version no cache can hold yet;
#  2. creates a brand-new console project outside the repository (dotnet new console), adds DebertaSharp and
#     DebertaSharp.Extensions from FEED only (dependencies such as TorchSharp from the configured feed), builds it and
#     runs a fill-mask pipeline on a shipped tiny checkpoint and tokenizer (also through the DI helper and the
#     Microsoft.ML.Tokenizers adapter);
#  3. installs the tool (dotnet tool install --tool-path DIR --add-source FEED DebertaSharp.Cli) and runs
#     deberta --help, deberta tokenize and deberta pipeline fill-mask, which must print what the app printed.
# Everything it makes lives in one temporary folder, removed on exit; the NuGet cache keeps none of its packages.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 DOTNET_CLI_UI_LANGUAGE=en
export MSBUILDDISABLENODEREUSE=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false

work=$(mktemp -d "${TMPDIR:-/tmp}/debertasharp-consumer.XXXXXX")
nuget_cache=${NUGET_PACKAGES:-$HOME/.nuget/packages}
version=""
cleanup() {
  rm -rf "$work"
  if [ -n "$version" ]; then
    for id in debertasharp debertasharp.extensions debertasharp.cli debertasharp.cli.linux-x64; do
      rm -rf "${nuget_cache:?}/$id/$version"
      rmdir "$nuget_cache/$id" 2>/dev/null || true   # only if no other version is there
    done
  fi
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
fail() { printf 'consumer-test: FAILED: %s\n' "$*" >&2; exit 1; }
# Runs a command quietly into a log file; shows the log's tail when it fails.
quiet() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "$* (log above)"
  fi
}

case "$work/" in "$repo"/*) fail "temporary folder $work is inside the repository" ;; esac
for d in "$work" "$(dirname "$work")" /; do
  for f in Directory.Build.props Directory.Build.targets Directory.Packages.props; do
    [ ! -e "$d/$f" ] || fail "$d/$f would apply to the user's project"
  done
done

fixtures="$repo/tests/DebertaSharp.Tests/Fixtures"
model="$fixtures/pipeline_models/masked_lm"
tokenizer="$fixtures/tokenizer/v4_template"
text="The capital of France is [MASK]."
feed="$work/feed"
suffix="consumer.$(date -u +%Y%m%d%H%M%S).$$"
version=$(dotnet msbuild "$repo/src/DebertaSharp/DebertaSharp.csproj" -getProperty:Version -p:VersionSuffix="$suffix")
[ -n "$version" ] || fail "no version from src/DebertaSharp"

step "dotnet pack -c Release -o $feed (version $version)"
start=$SECONDS
quiet "$work/pack.log" dotnet pack "$repo/DebertaSharp.slnx" -c Release -o "$feed" -p:VersionSuffix="$suffix"
echo "packed in $((SECONDS - start)) s:"
(cd "$feed" && ls -l --block-size=K ./*.nupkg ./*.snupkg | awk '{print "  " $5 "\t" $NF}')
for p in DebertaSharp DebertaSharp.Extensions DebertaSharp.Cli DebertaSharp.Cli.linux-x64; do
  [ -f "$feed/$p.$version.nupkg" ] || fail "no $p.$version.nupkg"
done

step "a new console project outside the repository: $work/app"
# DebertaSharp* from the packed folder only; everything else from the sources the repository's nuget.config names.
sources=$(grep -E '<add +key=' "$repo/nuget.config" | sed -E 's/^ */      /')
keys=$(sed -E 's/.*key="([^"]+)".*/\1/' <<<"$sources")
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<configuration>'
  echo '  <packageSources>'
  echo '    <clear />'
  echo "    <add key=\"debertasharp-packed\" value=\"$feed\" />"
  echo "$sources"
  echo '  </packageSources>'
  echo '  <packageSourceMapping>'
  echo '    <clear />'
  echo '    <packageSource key="debertasharp-packed"><package pattern="DebertaSharp" /><package pattern="DebertaSharp.*" /></packageSource>'
  while read -r k; do echo "    <packageSource key=\"$k\"><package pattern=\"*\" /></packageSource>"; done <<<"$keys"
  echo '  </packageSourceMapping>'
  echo '</configuration>'
} >"$work/app.nuget.config"
quiet "$work/new.log" dotnet new console -o "$work/app" -n ConsumerApp --framework net10.0
cd "$work/app"
mv "$work/app.nuget.config" nuget.config
quiet "$work/add.log" dotnet add package DebertaSharp --version "$version"
quiet "$work/add2.log" dotnet add package DebertaSharp.Extensions --version "$version"
quiet "$work/add3.log" dotnet add package Microsoft.Extensions.DependencyInjection --version 10.0.0
grep -E 'PackageReference' ConsumerApp.csproj | sed -E 's/^ */  /'
cat >Program.cs <<'EOF'
using System.Text.Json.Nodes;
using DebertaSharp.Extensions;
using DebertaSharp.Pipelines;
using Microsoft.Extensions.DependencyInjection;

string model = args[0], tokenizer = args[1], text = args[2];
// As the README's example and the deberta tool do (on AMD the tool's fp32 products then match the app's bit for bit).
DebertaSharp.MklCpuDispatch.UseFeatureBasedKernels();

// The library: a fill-mask pipeline on a checkpoint folder and a tokenizer folder.
using (var fillMask = (FillMaskPipeline)Pipeline.Create("fill-mask", model, tokenizer))
{
    foreach (var p in fillMask.Predict(text, topK: 3)[0])
        Console.WriteLine($"fill-mask: {p.Score:E3} {p.TokenStr,-12} {p.Sequence}");
    Console.WriteLine("json: " + fillMask.Run(JsonValue.Create(text))!.ToJsonString());
}

// The extensions: the pipeline as a DI singleton, the tokenizer as a Microsoft.ML.Tokenizers.Tokenizer.
using var services = new ServiceCollection().AddDebertaPipeline<FillMaskPipeline>("fill-mask", model, tokenizer).BuildServiceProvider();
var top = services.GetRequiredService<FillMaskPipeline>().Predict(text, topK: 1)[0][0];
Microsoft.ML.Tokenizers.Tokenizer ml = DebertaMLTokenizer.FromPretrained(tokenizer);
Console.WriteLine($"di: {top.TokenStr}; ml-tokenizers: {ml.CountTokens(text)} tokens [{string.Join(",", ml.EncodeToIds(text))}]");
EOF
start=$SECONDS
quiet "$work/build.log" dotnet build -c Release -v:n -nodeReuse:false
echo "built in $((SECONDS - start)) s"
grep -E 'TorchSharp native fix:' "$work/build.log" | sed -E 's/^ */  /' | sort -u || true
libstdcxx=""
for f in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
  [ -e "$f" ] && { libstdcxx=$f; break; }
done
if [ -n "$libstdcxx" ] && ! grep -qa 'GLIBCXX_3\.4\.32' "$libstdcxx"; then
  echo "  ($libstdcxx lacks GLIBCXX_3.4.32: without the fix the app could not load LibTorchSharp)"
fi

step "run the app"
app_out=$(dotnet bin/Release/net10.0/ConsumerApp.dll "$model" "$tokenizer" "$text") || fail "the app failed: $app_out"
echo "$app_out"
grep -q '^fill-mask: ' <<<"$app_out" || fail "the app printed no fill-mask result"
app_json=$(sed -n 's/^json: //p' <<<"$app_out")

step "dotnet tool install --tool-path $work/tool --add-source $feed DebertaSharp.Cli --version $version"
mkdir -p "$work/elsewhere" && cd "$work/elsewhere"   # no nuget.config here or above: the user's sources plus the folder
start=$SECONDS
quiet "$work/tool.log" dotnet tool install --tool-path "$work/tool" --add-source "$feed" DebertaSharp.Cli --version "$version"
tail -n 1 "$work/tool.log"
echo "installed in $((SECONDS - start)) s"
deberta="$work/tool/deberta"
tool_lib=$(find "$work/tool/.store" -name libLibTorchSharp.so | head -n 1)
[ -n "$tool_lib" ] || fail "the installed tool has no libLibTorchSharp.so"
if command -v readelf >/dev/null; then
  readelf -V "$tool_lib" >"$work/readelf.txt"
  grep -q 'GLIBCXX_3\.4\.32 *Flags: WEAK' "$work/readelf.txt" || fail "$tool_lib: GLIBCXX_3.4.32 is not weak"
  echo "the tool's libLibTorchSharp.so: GLIBCXX_3.4.32 weak (fixed at pack time)"
fi

step "deberta --help"
help=$("$deberta" --help) || fail "deberta --help failed"
head -n 16 <<<"$help"
grep -q 'tokenize' <<<"$help" || fail "deberta --help lists no tokenize command"

step "deberta tokenize"
printf '["%s", "Hello world!"]\n' "$text" >"$work/texts.json"
tok_out=$("$deberta" tokenize --tokenizer "$tokenizer" --input "$work/texts.json") || fail "deberta tokenize failed"
echo "$tok_out" | cut -c1-160
[ "$(wc -l <<<"$tok_out")" -eq 2 ] || fail "deberta tokenize printed $(wc -l <<<"$tok_out") lines, not 2"

step "deberta pipeline fill-mask (the tool's natives, fixed at pack time)"
tool_json=$("$deberta" pipeline fill-mask --model "$model" --tokenizer "$tokenizer" "$text") || fail "deberta pipeline failed: $tool_json"
echo "$tool_json" | cut -c1-160
[ "$tool_json" = "$app_json" ] || fail "deberta pipeline and the app differ:\n  tool: $tool_json\n  app:  $app_json"
echo "same as the app's result"

printf '\nconsumer-test: OK (version %s)\n' "$version"
