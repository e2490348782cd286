using TorchSharp;
using static TorchSharp.torch;

using DebertaSharp.Tests.Serialization;

namespace DebertaSharp.Tests.Modeling;

/// <summary>
/// The inference cache of pos_proj / pos_q_proj over the relative-embedding table (RelativeProjectionCache) must
/// never serve stale values: weights changed in place are picked up at the next forward.
/// </summary>
public class RelativeProjectionCacheTests
{
    private static readonly string Dir = TestPaths.Fixture("models", "rel_c2p_p2c", "base");

    private static Tensor Hidden(DebertaPreTrainedModel model, DebertaInputs inputs, bool grad)
    {
        using var mode = grad ? enable_grad() : no_grad();
        var output = (BaseModelOutput)model.Forward(inputs);
        return output.LastHiddenState.detach().clone();
    }

    [Theory]
    [InlineData("encoder.rel_embeddings.weight")]
    [InlineData("encoder.layer.1.attention.self.pos_proj.weight")]
    [InlineData("encoder.layer.0.attention.self.pos_q_proj.weight")]
    [InlineData("encoder.layer.1.attention.self.pos_q_proj.bias")]
    public void InPlaceWeightChangesAreNotServedStale(string parameter)
    {
        using var model = DebertaPreTrainedModel.FromPretrained(Dir);
        model.eval();
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.True(named.ContainsKey(parameter), parameter);
        using var fixture = new SerializationTestUtil.Owned(ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_padded.safetensors")));
        var expected = fixture.Dict;
        using var scope = NewDisposeScope();                                    // the forwards' outputs
        var inputs = ParityAssert.Inputs(expected, outputs: false);

        var cachedBefore = Hidden(model, inputs, grad: false);                // fills the cache
        ParityAssert.Close("cached forward", expected["output.last_hidden_state"], cachedBefore);

        using (no_grad())
            named[parameter].mul_(40).add_(0.5);                                // an in-place update, as an optimizer makes
        var cachedAfter = Hidden(model, inputs, grad: false);                  // cache path
        var computed = Hidden(model, inputs, grad: true);                      // no cache
        // The change is visible (the relative terms are small next to the residual path, hence the modest threshold)
        // and the cached path follows it exactly; a stale cache would differ from the computed path by the change.
        double change = ParityAssert.MaxAbsDiff(cachedBefore, computed);
        Assert.True(change > 5e-5, $"the change had no visible effect ({change:E2}); the test cannot tell a stale cache");
        ParityAssert.Close("cached forward after the change", computed, cachedAfter, 1e-6);
    }

    [Fact]
    public void RepeatedInferenceIsStableAndMatchesTheUncachedPath()
    {
        using var model = DebertaPreTrainedModel.FromPretrained(Dir);
        model.eval();
        using var fixture = new SerializationTestUtil.Owned(ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_long.safetensors")));
        var expected = fixture.Dict;
        using var scope = NewDisposeScope();                                    // the forwards' outputs
        var inputs = ParityAssert.Inputs(expected, outputs: false);
        var first = Hidden(model, inputs, grad: false);
        var second = Hidden(model, inputs, grad: false);
        var uncached = Hidden(model, inputs, grad: true);
        Assert.Equal(0.0, ParityAssert.MaxAbsDiff(first, second));
        ParityAssert.Close("cached vs computed", uncached, first, 1e-5);
        ParityAssert.Close("fixture", expected["output.last_hidden_state"], first);
    }

    /// <summary>bf16 weights use the cache too: the cached forward equals the computed one (the same bf16 products, the
    /// rows taken before or after), and an in-place change of a projection is followed.</summary>
    [Fact]
    public void Bfloat16_Uses_The_Cache_And_Follows_Changes()
    {
        using var model = DebertaPreTrainedModel.FromPretrained(Dir, ScalarType.BFloat16);
        model.eval();
        using var fixture = new SerializationTestUtil.Owned(ParityAssert.Load(TestPaths.Fixture("models", "rel_c2p_p2c", "base", "expected_padded.safetensors")));
        var expected = fixture.Dict;
        using var scope = NewDisposeScope();                                    // the forwards' outputs
        var inputs = ParityAssert.Inputs(expected, outputs: false);
        var cached = Hidden(model, inputs, grad: false).to(ScalarType.Float32);
        var computed = Hidden(model, inputs, grad: true).to(ScalarType.Float32);
        ParityAssert.Close("bf16 cached vs computed", computed, cached, 2e-2);
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (no_grad())
            named["encoder.rel_embeddings.weight"].mul_(40).add_(0.5);
        var cachedAfter = Hidden(model, inputs, grad: false).to(ScalarType.Float32);
        var computedAfter = Hidden(model, inputs, grad: true).to(ScalarType.Float32);
        double change = ParityAssert.MaxAbsDiff(computed, computedAfter);
        double before = ParityAssert.MaxAbsDiff(computed, cached), after = ParityAssert.MaxAbsDiff(computedAfter, cachedAfter);
        // A stale cache would leave cachedAfter about `change` away from computedAfter; the cached path's own difference
        // (the same bf16 products over a longer matrix) is far smaller.
        Assert.True(change > 4 * Math.Max(before, after), $"change {change:E2}, cached vs computed {before:E2} before and {after:E2} after");
    }
}
