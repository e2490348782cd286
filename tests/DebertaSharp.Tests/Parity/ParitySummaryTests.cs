using DebertaSharp.Tests.Cli;
using DebertaSharp.Tests.Modeling;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Parity;

/// <summary>
/// One pass over every model fixture (shared and extra) that reports the largest differences from Hugging Face, so the
/// parity numbers quoted in notes come from a command anyone can rerun:
/// <c>dotnet test tests/DebertaSharp.Tests -c Release --filter "FullyQualifiedName~ParitySummary" --logger "console;verbosity=detailed"</c>.
/// </summary>
public class ParitySummaryTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryModelFixtureWithinTolerance()
    {
        double maxOutput = 0, maxHidden = 0, maxAttention = 0, maxLossRel = 0;
        int cases = 0, tensors = 0;
        foreach (var row in ForwardCommandTests.ModelCases())
        {
            string dir = (string)row[0], file = (string)row[1];
            var expected = ParityAssert.Load(TestPaths.Fixture(dir, file));
            using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture(dir));
            model.eval();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var inputs = ParityAssert.CaseInputs(expected);
            var got = model.Forward(inputs).NamedTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
            foreach (var (key, want) in expected.Where(kv => kv.Key.StartsWith("output.", StringComparison.Ordinal)))
            {
                string name = key["output.".Length..];
                Assert.True(got.ContainsKey(name), $"{dir}/{file}: no {name}");
                tensors++;
                if (name == "loss")
                {
                    double e = want.to(ScalarType.Float64).item<double>(), a = got[name].to(ScalarType.Float64).item<double>();
                    if (double.IsNaN(e)) { Assert.True(double.IsNaN(a), $"{dir}/{file}: loss should be NaN"); continue; }
                    maxLossRel = Math.Max(maxLossRel, Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-12));
                    continue;
                }
                double d = ParityAssert.MaxAbsDiff(want, got[name]);
                if (name.StartsWith("hidden_states.", StringComparison.Ordinal)) maxHidden = Math.Max(maxHidden, d);
                else if (name.StartsWith("attentions.", StringComparison.Ordinal)) maxAttention = Math.Max(maxAttention, d);
                else maxOutput = Math.Max(maxOutput, d);
            }
            cases++;
        }
        output.WriteLine($"parity: {cases} cases, {tensors} tensors; max abs diff: outputs {maxOutput:E2}, hidden states {maxHidden:E2}, attentions {maxAttention:E2}; max relative loss diff {maxLossRel:E2} (tolerances 1e-4 abs, 1e-5 rel)");
        Assert.True(maxOutput <= 1e-4 && maxHidden <= 1e-4 && maxAttention <= 1e-4, "outputs beyond 1e-4");
        Assert.True(maxLossRel <= 1e-5, "loss beyond 1e-5 relative");
        Assert.True(cases > 80, $"only {cases} cases found");
    }
}
