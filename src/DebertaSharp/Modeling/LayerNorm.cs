using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

// Mirrors transformers' DebertaLayerNorm: computed in fp32, biased variance, eps inside the square root,
// the normalised value cast back to the input dtype before the affine step.
internal sealed class DebertaLayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long _size;
    private readonly double _eps;

    public DebertaLayerNorm(long size, double eps) : base(nameof(DebertaLayerNorm))
    {
        _size = size;
        _eps = eps;
        weight = new Parameter(ones(size));
        bias = new Parameter(zeros(size));
        RegisterComponents();
    }

    public Parameter Weight => weight;
    public Parameter Bias => bias;

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (hiddenStates.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32)
        {
            // layer_norm computes (x - mean) / sqrt(var_biased + eps): the same formula, fused.
            y = nn.functional.layer_norm(hiddenStates, [_size], weight, bias, _eps);
        }
        else
        {
            var x = nn.functional.layer_norm(hiddenStates.to(ScalarType.Float32), [_size], null, null, _eps);
            y = weight * x.to(hiddenStates.dtype) + bias;
        }
        return y.MoveToOuterDisposeScope();
    }
}
