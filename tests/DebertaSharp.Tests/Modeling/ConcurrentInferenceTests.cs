using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>
/// Forwards of one model in evaluation mode on several threads at once (a server sharing its weights), each round right
/// after a weight change so that every thread refills the inference cache of the relative projections
/// (RelativeProjectionCache) at the same time. A stress guard: the unlocked refill's race (a thread handed a tensor that
/// another disposes, or a refill leaked) has a window too narrow to hit reliably, so this test passing does not prove the
/// lock; it does prove concurrent inference gives the sequential result.
/// </summary>
public sealed class ConcurrentInferenceTests
{
    [Fact]
    public void Concurrent_Eval_Forwards_Agree_With_The_Sequential_Result_While_The_Cache_Refills()
    {
        string dir = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        model.eval();
        var expected = ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_padded.safetensors"));
        try
        {
            var inputs = ParityAssert.Inputs(expected, outputs: false);
            var table = model.named_parameters().Single(p => p.name == "encoder.rel_embeddings.weight").parameter;
            const int threads = 4;
            for (int round = 0; round < 40; round++)
            {
                using var roundScope = NewDisposeScope();                                   // the reference and the results
                using (no_grad()) table.add_(1e-3);                                          // every layer's cache is now stale
                Tensor reference;
                using (enable_grad())                                                       // the uncached path
                    reference = ((BaseModelOutput)model.Forward(inputs)).LastHiddenState.detach().clone();
                var results = new Tensor?[threads];
                var errors = new Exception?[threads];
                using var barrier = new Barrier(threads);
                var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
                {
                    try
                    {
                        using var noGrad = no_grad();                                       // grad mode is per thread
                        barrier.SignalAndWait();
                        using var scope = NewDisposeScope();                                // scopes are per thread too
                        results[i] = ((BaseModelOutput)model.Forward(inputs)).LastHiddenState.detach().clone().DetachFromDisposeScope();
                    }
                    catch (Exception e)
                    {
                        errors[i] = e;                                                      // an escaping exception would end the test host
                    }
                })).ToList();
                foreach (var w in workers) w.Start();
                foreach (var w in workers) w.Join();
                try
                {
                    for (int i = 0; i < threads; i++)
                    {
                        Assert.True(errors[i] is null, $"round {round}, thread {i}: {errors[i]}");
                        ParityAssert.Close($"round {round}, thread {i}", reference, results[i]!, 1e-5);
                    }
                }
                finally
                {
                    foreach (var r in results) r?.Dispose();
                }
            }
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }
}
