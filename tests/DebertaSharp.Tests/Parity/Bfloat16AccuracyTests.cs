using DebertaSharp.Tests.Cli;
using DebertaSharp.Tests.Modeling;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Parity;

/// <summary>
/// The bf16 inference path (<c>FromPretrained(dir, ScalarType.BFloat16)</c>: weights and activations in bf16, LibTorch's
/// CPU LayerNorm and softmax accumulating in fp32) against Hugging Face's fp32 outputs on every model fixture: max and
/// mean absolute difference of the hidden states and of the logits at real (unmasked) positions, and whether the top-1
/// label / token changed. The table quoted in the README comes from
/// <c>dotnet test tests/DebertaSharp.Tests -c Release --filter "FullyQualifiedName~Bfloat16Accuracy" --logger "console;verbosity=detailed"</c>.
/// The bounds asserted are the ones measured (2026-12-01) with some headroom, not picked to pass: the tiny fixture
/// models use initializer_range up to 0.6, so their activations are far larger than a trained model's.
/// </summary>
public class Bfloat16AccuracyTests(ITestOutputHelper output)
{
    private sealed class Stats
    {
        public double MaxHidden, SumHidden, MaxLogits, SumLogits, MaxFlipMargin;
        public long NHidden, NLogits, Argmaxes, Flips;
        public int Cases;
    }

    /// <summary>|a - b| at real positions of a [B, L, ...] output (all of it for other shapes), as (max, sum, count).</summary>
    private static (double Max, double Sum, long Count) Diff(Tensor want, Tensor got, Tensor? mask)
    {
        using var d = (got.to(ScalarType.Float64) - want.to(ScalarType.Float64)).abs();
        Tensor sel = d;
        if (mask is not null && want.dim() >= 2 && want.shape[0] == mask.shape[0] && want.shape[1] == mask.shape[1])
            sel = d[mask.to(ScalarType.Bool)];
        return (sel.max().item<double>(), sel.sum().item<double>(), sel.numel());
    }

    [Fact]
    public void EveryModelFixtureInBfloat16()
    {
        var byFamily = new SortedDictionary<string, Stats>(StringComparer.Ordinal);
        foreach (var row in ForwardCommandTests.ModelCases())
        {
            string dir = (string)row[0], file = (string)row[1];
            var expected = ParityAssert.Load(TestPaths.Fixture(dir, file));
            using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture(dir), ScalarType.BFloat16);
            model.eval();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var inputs = ParityAssert.CaseInputs(expected);
            var got = model.Forward(inputs).NamedTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
            var mask = expected.GetValueOrDefault("input.attention_mask");
            if (mask is not null && mask.dim() != 2) mask = null;
            string family = dir.Replace('\\', '/');
            if (!byFamily.TryGetValue(family, out var s)) byFamily[family] = s = new Stats();
            s.Cases++;
            foreach (var (key, want) in expected.Where(kv => kv.Key.StartsWith("output.", StringComparison.Ordinal)))
            {
                string name = key["output.".Length..];
                if (name == "loss" || name.StartsWith("attentions.", StringComparison.Ordinal)) continue;
                Assert.True(got.ContainsKey(name), $"{dir}/{file}: no {name}");
                // bf16 throughout (regression logits with labels excepted: Hugging Face casts them to the labels' dtype).
                if (!name.EndsWith("logits", StringComparison.Ordinal))
                    Assert.True(got[name].dtype == ScalarType.BFloat16, $"{dir}/{file}: {name} is {got[name].dtype}");
                var (max, sum, n) = Diff(want, got[name], mask);
                bool isLogits = name.EndsWith("logits", StringComparison.Ordinal);
                if (isLogits)
                {
                    s.MaxLogits = Math.Max(s.MaxLogits, max);
                    s.SumLogits += sum;
                    s.NLogits += n;
                    // Top-1 over the last dimension, at real positions.
                    using var w = want.to(ScalarType.Float32);
                    using var g = got[name].to(ScalarType.Float32);
                    var wantTop = w.argmax(-1);
                    var gotTop = g.argmax(-1);
                    var top2 = w.topk(Math.Min(2, (int)w.shape[^1]), -1).values;
                    var margin = top2.shape[^1] > 1 ? top2.select(-1, 0) - top2.select(-1, 1) : zeros_like(wantTop, ScalarType.Float32).add(1e9);
                    var real = mask is not null && wantTop.dim() == 2 && wantTop.shape[0] == mask.shape[0] && wantTop.shape[1] == mask.shape[1]
                        ? mask.to(ScalarType.Bool) : ones_like(wantTop, ScalarType.Bool);
                    var flipped = wantTop.ne(gotTop).logical_and(real);
                    s.Argmaxes += real.sum().item<long>();
                    long flips = flipped.sum().item<long>();
                    s.Flips += flips;
                    if (flips > 0) s.MaxFlipMargin = Math.Max(s.MaxFlipMargin, margin[flipped].max().item<float>());
                }
                else
                {
                    s.MaxHidden = Math.Max(s.MaxHidden, max);
                    s.SumHidden += sum;
                    s.NHidden += n;
                }
            }
        }

        output.WriteLine("| fixture | cases | hidden max abs | hidden mean abs | logits max abs | logits mean abs | top-1 changed | largest fp32 top-2 gap among changes |");
        output.WriteLine("|---|---|---|---|---|---|---|---|");
        var total = new Stats();
        foreach (var (family, s) in byFamily)
        {
            output.WriteLine($"| {family} | {s.Cases} | {(s.NHidden == 0 ? "-" : s.MaxHidden.ToString("E1"))} | {(s.NHidden == 0 ? "-" : (s.SumHidden / s.NHidden).ToString("E1"))} | {(s.NLogits == 0 ? "-" : s.MaxLogits.ToString("E1"))} | {(s.NLogits == 0 ? "-" : (s.SumLogits / s.NLogits).ToString("E1"))} | {s.Flips}/{s.Argmaxes} | {(s.Flips == 0 ? "-" : s.MaxFlipMargin.ToString("E1"))} |");
            total.Cases += s.Cases;
            total.MaxHidden = Math.Max(total.MaxHidden, s.MaxHidden);
            total.SumHidden += s.SumHidden;
            total.NHidden += s.NHidden;
            total.MaxLogits = Math.Max(total.MaxLogits, s.MaxLogits);
            total.SumLogits += s.SumLogits;
            total.NLogits += s.NLogits;
            total.Flips += s.Flips;
            total.Argmaxes += s.Argmaxes;
            if (s.Flips > 0) total.MaxFlipMargin = Math.Max(total.MaxFlipMargin, s.MaxFlipMargin);
        }
        output.WriteLine($"| all | {total.Cases} | {total.MaxHidden:E1} | {total.SumHidden / total.NHidden:E1} | {total.MaxLogits:E1} | {total.SumLogits / total.NLogits:E1} | {total.Flips}/{total.Argmaxes} | {(total.Flips == 0 ? "-" : total.MaxFlipMargin.ToString("E1"))} |");
        Assert.True(total.Cases > 80, $"only {total.Cases} cases");
        // Measured 2026-12-01: hidden states max 0.100 / mean 4.8e-3, logits max 7.9e-3 / mean 9.6e-4, 20 of 1848 top-1s
        // changed, every one where the fp32 top-2 gap was at most 1.8e-3 (these random models' logits nearly tie).
        Assert.InRange(total.MaxHidden, 0, 0.15);
        Assert.InRange(total.SumHidden / total.NHidden, 0, 7e-3);
        Assert.InRange(total.MaxLogits, 0, 1.2e-2);
        Assert.InRange(total.SumLogits / total.NLogits, 0, 1.5e-3);
        Assert.InRange(total.Flips, 0, total.Argmaxes / 50);
        // A top-1 can only change where the two best fp32 logits are closer than the errors of the two together.
        Assert.True(total.MaxFlipMargin <= 2 * total.MaxLogits, $"a top-1 changed with an fp32 gap of {total.MaxFlipMargin}");
    }
}
