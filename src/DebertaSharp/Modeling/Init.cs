using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>Mirrors DebertaPreTrainedModel._init_weights.</summary>
internal static class WeightInit
{
    /// <summary>
    /// Initialises <paramref name="module"/> and its descendants: Linear and Embedding weights ~ N(0, initializer_range)
    /// (the word embeddings' padding row 0), biases 0, layer norms 1/0, q_bias/v_bias 0, LM head biases 0.
    /// </summary>
    public static void Apply(nn.Module module, DebertaConfig config)
    {
        using var noGrad = no_grad();
        // Some nn.init calls hand back a new Tensor object over the parameter (the soak test found five left alive per
        // model built, the padding row's view among them); the scope disposes those wrappers, never the parameters,
        // which exist before it.
        using var scope = NewDisposeScope();
        double std = config.InitializerRange;
        foreach (var (name, m) in module.named_modules().Prepend(("", module)))
        {
            switch (m)
            {
                case Linear lin:
                    nn.init.normal_(lin.weight!, 0.0, std);
                    if (lin.bias is not null) nn.init.zeros_(lin.bias);
                    break;
                case Embedding emb:
                    nn.init.normal_(emb.weight!, 0.0, std);
                    if ((name == "word_embeddings" || name.EndsWith(".word_embeddings", StringComparison.Ordinal)) && config.PaddingRow is { } pad)
                        emb.weight![pad].zero_();
                    break;
                case LayerNorm ln:
                    if (ln.weight is not null) nn.init.ones_(ln.weight);
                    if (ln.bias is not null) nn.init.zeros_(ln.bias);
                    break;
                case DebertaLayerNorm dln:
                    nn.init.ones_(dln.Weight);
                    nn.init.zeros_(dln.Bias);
                    break;
                case DisentangledSelfAttention att:
                    nn.init.zeros_(att.QBias);
                    nn.init.zeros_(att.VBias);
                    break;
                case ILMHeadBias head:
                    nn.init.zeros_(head.Bias);
                    break;
            }
        }
    }
}

/// <summary>A masked LM head with an output bias over the vocabulary.</summary>
internal interface ILMHeadBias
{
    Parameter Bias { get; }
}
