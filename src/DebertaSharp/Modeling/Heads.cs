using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

// Mirrors transformers' ContextPooler: act(dense(dropout(h[:, 0]))).
internal sealed class ContextPooler : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly double _dropout;
    private readonly Func<Tensor, Tensor> _act;

    public ContextPooler(DebertaConfig config) : base(nameof(ContextPooler))
    {
        int size = config.EffectivePoolerHiddenSize;
        dense = nn.Linear(size, size);
        _dropout = config.PoolerDropout;
        _act = Activations.Get(config.PoolerHiddenAct, "pooler_hidden_act");
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var token = hiddenStates.select(1, 0);                                          // [B, H]
        token = nn.functional.dropout(token, _dropout, training);
        return _act(dense.forward(token)).MoveToOuterDisposeScope();                     // [B, H]
    }
}

// Mirrors transformers' LegacyDebertaPredictionHeadTransform: LayerNorm(act(dense(h))) with nn.LayerNorm.
internal sealed class LegacyDebertaPredictionHeadTransform : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Func<Tensor, Tensor> _act;

    public LegacyDebertaPredictionHeadTransform(DebertaConfig config) : base(nameof(LegacyDebertaPredictionHeadTransform))
    {
        int emb = config.EffectiveEmbeddingSize;
        dense = nn.Linear(config.HiddenSize, emb);
        LayerNorm = nn.LayerNorm(emb, config.LayerNormEps);
        _act = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        return LayerNorm.forward(_act(dense.forward(hiddenStates))).MoveToOuterDisposeScope(); // [B, L, E]
    }
}

// Mirrors transformers' LegacyDebertaLMPredictionHead: transform, then the decoder whose weight is the word embeddings
// (tie_word_embeddings, the default) and whose bias is `bias`. With tie_word_embeddings false the decoder has its own
// weight (cls.predictions.decoder.weight).
internal sealed class LegacyDebertaLMPredictionHead : nn.Module, ILMHeadBias
{
    private readonly LegacyDebertaPredictionHeadTransform transform;
    private readonly Parameter bias;
    private readonly Linear? decoder;

    public LegacyDebertaLMPredictionHead(DebertaConfig config) : base(nameof(LegacyDebertaLMPredictionHead))
    {
        transform = new LegacyDebertaPredictionHeadTransform(config);
        bias = new Parameter(zeros(config.VocabSize));
        if (config.TieWordEmbeddings == false)
            decoder = nn.Linear(config.EffectiveEmbeddingSize, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public Parameter Bias => bias;

    public Tensor Forward(Tensor hiddenStates, Tensor wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        var x = transform.forward(hiddenStates);                                         // [B, L, E]
        var w = decoder?.weight ?? wordEmbeddings;                                       // [V, E]
        return nn.functional.linear(x, w, bias).MoveToOuterDisposeScope();               // [B, L, V]
    }
}

// Mirrors transformers' LegacyDebertaOnlyMLMHead (`cls`).
internal sealed class LegacyDebertaOnlyMLMHead : nn.Module
{
    private readonly LegacyDebertaLMPredictionHead predictions;

    public LegacyDebertaOnlyMLMHead(DebertaConfig config) : base(nameof(LegacyDebertaOnlyMLMHead))
    {
        predictions = new LegacyDebertaLMPredictionHead(config);
        RegisterComponents();
    }

    public Tensor Forward(Tensor hiddenStates, Tensor wordEmbeddings) => predictions.Forward(hiddenStates, wordEmbeddings);
}

// Mirrors transformers' DebertaLMPredictionHead (non-legacy): LayerNorm(act(dense(h))) @ word_embeddingsᵀ + bias.
internal sealed class DebertaLMPredictionHead : nn.Module, ILMHeadBias
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Parameter bias;
    private readonly Func<Tensor, Tensor> _act;

    public DebertaLMPredictionHead(DebertaConfig config) : base(nameof(DebertaLMPredictionHead))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        bias = new Parameter(zeros(config.VocabSize));
        _act = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public Parameter Bias => bias;

    public Tensor Forward(Tensor hiddenStates, Tensor wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        var x = LayerNorm.forward(_act(dense.forward(hiddenStates)));                    // [B, L, H]
        return nn.functional.linear(x, wordEmbeddings, bias).MoveToOuterDisposeScope();  // [B, L, V]
    }
}

// Mirrors transformers' DebertaOnlyMLMHead (`lm_predictions`).
internal sealed class DebertaOnlyMLMHead : nn.Module
{
    private readonly DebertaLMPredictionHead lm_head;

    public DebertaOnlyMLMHead(DebertaConfig config) : base(nameof(DebertaOnlyMLMHead))
    {
        lm_head = new DebertaLMPredictionHead(config);
        RegisterComponents();
    }

    public Tensor Forward(Tensor hiddenStates, Tensor wordEmbeddings) => lm_head.Forward(hiddenStates, wordEmbeddings);
}
