using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>Fixtures/training: six AdamW steps (Hugging Face's recipe in trace.json) reproduce the losses, gradient norms and final weights.</summary>
public sealed class TrainingTraceTests(ITestOutputHelper log)
{
    [Fact]
    public void Six_AdamW_Steps_Match_The_Trace()
    {
        string root = TestPaths.Fixture("training");
        var trace = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "trace.json")))!;
        double[] losses = trace["losses"]!.AsArray().Select(x => (double)x!).ToArray();
        double[] lrs = trace["lrs_used"]!.AsArray().Select(x => (double)x!).ToArray();
        double[] norms = trace["grad_norms_before_clip"]!.AsArray().Select(x => (double)x!).ToArray();

        using var model = DebertaPreTrainedModel.FromPretrained(Path.Combine(root, "initial"));
        model.train();
        var named = model.named_parameters().ToList();
        bool NoDecay(string n) => n.Contains("bias", StringComparison.Ordinal) || n.Contains("LayerNorm.weight", StringComparison.Ordinal);
        var decay = new AdamW.ParamGroup(named.Where(p => !NoDecay(p.name)).Select(p => p.parameter), lrs[0], 0.9, 0.999, 1e-8, 0.01);
        var noDecay = new AdamW.ParamGroup(named.Where(p => NoDecay(p.name)).Select(p => p.parameter), lrs[0], 0.9, 0.999, 1e-8, 0.0);
        using var optimizer = optim.AdamW([decay, noDecay], 5e-3);
        var batch = ParityAssert.Load(Path.Combine(root, "batch.safetensors"));
        try
        {
            var inputs = ParityAssert.Inputs(batch, outputs: false);
            for (int step = 0; step < losses.Length; step++)
            {
                using var scope = NewDisposeScope();
                foreach (var g in optimizer.ParamGroups) g.LearningRate = lrs[step];
                var loss = model.Forward(inputs).Loss!;
                loss.backward();
                double norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0);
                optimizer.step();
                optimizer.zero_grad();
                double l = loss.item<float>();
                log.WriteLine($"step {step}: loss {l:R} (HF {losses[step]:R}), grad norm {norm:R} (HF {norms[step]:R})");
                Assert.True(Math.Abs(l - losses[step]) <= 1e-5 * Math.Abs(losses[step]), $"step {step}: loss {l} vs {losses[step]}");
                Assert.True(Math.Abs(norm - norms[step]) <= 1e-4 * norms[step], $"step {step}: grad norm {norm} vs {norms[step]}");
            }
        }
        finally { ParityAssert.DisposeAll(batch.Values); }

        var final = ParityAssert.Load(Path.Combine(root, "final", "model.safetensors"));
        try
        {
            double max = 0;
            foreach (var (name, p) in named)
            {
                ParityAssert.Close(name, final[name], p.detach());
                max = Math.Max(max, ParityAssert.MaxAbsDiff(final[name], p.detach()));
            }
            log.WriteLine($"final weights: max abs diff {max:E2}");
        }
        finally { ParityAssert.DisposeAll(final.Values); }
    }
}
