using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Compares model outputs with the Hugging Face fixtures (tolerances of Fixtures/README.md).</summary>
internal static class ParityAssert
{
    public const double OutputAbs = 1e-4;
    public const double LossRel = 1e-5;

    /// <summary>Largest absolute difference seen by any comparison in this test run (reported by the parity summary test).</summary>
    public static double MaxAbsSeen;
    /// <summary>Largest relative loss difference seen in this test run.</summary>
    public static double MaxLossRelSeen;
    private static readonly object s_lock = new();

    public static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64);
        var a = actual.to(ScalarType.Float64).cpu();
        if (e.numel() == 0) return 0;
        return (e - a).abs().max().item<double>();
    }

    public static void Close(string name, Tensor expected, Tensor actual, double tol = OutputAbs)
    {
        double d = MaxAbsDiff(expected, actual);
        lock (s_lock) MaxAbsSeen = Math.Max(MaxAbsSeen, d);
        Assert.True(d <= tol, $"{name}: max abs diff {d:E3} > {tol:E1}");
    }

    public static void Loss(Tensor expected, Tensor actual)
    {
        double e = expected.to(ScalarType.Float64).item<double>();
        double a = actual.to(ScalarType.Float64).cpu().item<double>();
        if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"loss: expected NaN (as Hugging Face), got {a}"); return; }
        double rel = Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-12);
        lock (s_lock) MaxLossRelSeen = Math.Max(MaxLossRelSeen, rel);
        Assert.True(rel <= LossRel, $"loss: expected {e:R}, got {a:R} (relative diff {rel:E3})");
    }

    /// <summary>Checks every <c>output.*</c> tensor of the fixture against <paramref name="output"/>; returns the max abs diff.</summary>
    public static double Matches(IReadOnlyDictionary<string, Tensor> expected, ModelOutput output)
    {
        var actual = output.NamedTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
        double max = 0;
        int compared = 0;
        foreach (var (key, exp) in expected)
        {
            if (!key.StartsWith("output.", StringComparison.Ordinal)) continue;
            string name = key["output.".Length..];
            Assert.True(actual.ContainsKey(name), $"the model produced no '{name}' (has: {string.Join(", ", actual.Keys)})");
            if (name == "loss") Loss(exp, actual[name]);
            else
            {
                Close(name, exp, actual[name]);
                max = Math.Max(max, MaxAbsDiff(exp, actual[name]));
            }
            compared++;
        }
        Assert.True(compared > 0, "the fixture has no outputs");
        int expectedCount = expected.Keys.Count(k => k.StartsWith("output.", StringComparison.Ordinal));
        Assert.Equal(expectedCount, actual.Count);
        return max;
    }

    public static DebertaInputs Inputs(IReadOnlyDictionary<string, Tensor> t, bool outputs = true) => new()
    {
        InputIds = t.GetValueOrDefault("input.input_ids"),
        AttentionMask = t.GetValueOrDefault("input.attention_mask"),
        TokenTypeIds = t.GetValueOrDefault("input.token_type_ids"),
        Labels = t.GetValueOrDefault("input.labels"),
        StartPositions = t.GetValueOrDefault("input.start_positions"),
        EndPositions = t.GetValueOrDefault("input.end_positions"),
        OutputAttentions = outputs,
        OutputHiddenStates = outputs,
    };

    /// <summary>A fixture case's inputs (position ids included) asking for hidden states and attentions when the case holds them.</summary>
    public static DebertaInputs CaseInputs(IReadOnlyDictionary<string, Tensor> t) =>
        Inputs(t, outputs: t.Keys.Any(k => k.StartsWith("output.hidden_states.", StringComparison.Ordinal)))
            with { PositionIds = t.GetValueOrDefault("input.position_ids") };

    public static Dictionary<string, Tensor> Load(string path) => SafeTensors.Load(path);

    public static void DisposeAll(IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors) t.Dispose();
    }
}
