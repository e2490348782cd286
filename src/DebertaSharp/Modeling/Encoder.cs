using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

// Mirrors transformers' DebertaIntermediate: act(dense(x)).
internal sealed class DebertaIntermediate : nn.Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Func<Tensor, Tensor> _act;

    public DebertaIntermediate(DebertaConfig config) : base(nameof(DebertaIntermediate))
    {
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        _act = Activations.Get(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        return _act(dense.forward(hiddenStates)).MoveToOuterDisposeScope();               // [B, L, I]
    }
}

// Mirrors transformers' DebertaOutput: LN(dropout(dense(x)) + input).
internal sealed class DebertaOutput : nn.Module
{
    private readonly Linear dense;
    private readonly DebertaLayerNorm LayerNorm;
    private readonly double _dropout;

    public DebertaOutput(DebertaConfig config) : base(nameof(DebertaOutput))
    {
        dense = nn.Linear(config.IntermediateSize, config.HiddenSize);
        LayerNorm = new DebertaLayerNorm(config.HiddenSize, config.LayerNormEps);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Tensor Forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.dropout(dense.forward(hiddenStates), _dropout, training);   // [B, L, H]
        return LayerNorm.forward(x + inputTensor).MoveToOuterDisposeScope();
    }
}

// Mirrors transformers' DebertaLayer: attention block, then the feed-forward block.
internal sealed class DebertaLayer : nn.Module
{
    private readonly DebertaAttention attention;
    private readonly DebertaIntermediate intermediate;
    private readonly DebertaOutput output;

    public DebertaLayer(DebertaConfig config) : base(nameof(DebertaLayer))
    {
        attention = new DebertaAttention(config);
        intermediate = new DebertaIntermediate(config);
        output = new DebertaOutput(config);
        RegisterComponents();
    }

    public (Tensor Output, Tensor? Probs) Forward(Tensor hiddenStates, AttentionContext ctx, bool outputAttentions)
    {
        using var scope = NewDisposeScope();
        var (att, probs) = attention.Forward(hiddenStates, ctx, outputAttentions);
        var result = output.Forward(intermediate.forward(att), att).MoveToOuterDisposeScope();
        probs?.MoveToOuterDisposeScope();
        return (result, probs);
    }
}

// Mirrors transformers' DebertaEncoder: the layers and, with relative attention, rel_embeddings [2 max_rel, H].
internal sealed class DebertaEncoder : nn.Module
{
    private readonly ModuleList<DebertaLayer> layer;
    private readonly Embedding? rel_embeddings;
    private readonly int _maxRelative;

    public DebertaEncoder(DebertaConfig config) : base(nameof(DebertaEncoder))
    {
        layer = new ModuleList<DebertaLayer>(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new DebertaLayer(config)).ToArray());
        if (config.RelativeAttention)
        {
            _maxRelative = config.EffectiveMaxRelativePositions;
            rel_embeddings = nn.Embedding(_maxRelative * 2, config.HiddenSize);
        }
        RegisterComponents();
    }

    /// <summary>Test and benchmark hook: gather the relative terms with index tensors even when no clamping happens.</summary>
    internal bool ForceGather { get; set; }

    /// <summary>
    /// Sequences longer than this compute their relative terms in blocks of this many rows (each block's product covers
    /// the L + rows - 1 positions it reads instead of all 2L: at 512 tokens and 128 rows, 62% of the work); 0 = never. Tests set
    /// it small to run the blocked path on the fixtures.
    /// </summary>
    internal long RelativeBandRows { get; set; } = DefaultRelativeBandRows;

    private long _blockedRelativeTerms;

    /// <summary>Test hook: the relative terms (c2p or p2c, per layer) computed in blocks of <see cref="RelativeBandRows"/> by
    /// this encoder's forwards so far.</summary>
    internal long BlockedRelativeTerms => Interlocked.Read(ref _blockedRelativeTerms);

    /// <summary>The default of <see cref="RelativeBandRows"/>.</summary>
    internal const long DefaultRelativeBandRows = 128;

    /// <summary>Use the TF family's masked softmax (<see cref="AttentionContext.TFMaskedSoftmax"/>); set by the TFDeberta* classes.</summary>
    internal bool TFMaskedSoftmax { get; set; }

    /// <summary>
    /// Runs every layer. <paramref name="attentionMask"/> is [B, L]; the outer product m_i m_j becomes the [B, 1, L, L]
    /// mask (non-zero = attend). Returns the last hidden state and, when asked, all hidden states (input first) and
    /// attention probabilities.
    /// </summary>
    public (Tensor Last, List<Tensor>? Hidden, List<Tensor>? Attentions) Forward(
        Tensor hiddenStates, Tensor attentionMask, bool outputHiddenStates, bool outputAttentions)
    {
        using var scope = NewDisposeScope();
        var ctx = BuildContext(hiddenStates, attentionMask);
        var hidden = outputHiddenStates ? new List<Tensor> { hiddenStates } : null;
        var atts = outputAttentions ? new List<Tensor>() : null;
        var h = hiddenStates;
        foreach (var l in layer)
        {
            var (next, probs) = l.Forward(h, ctx, outputAttentions);
            h = next;
            hidden?.Add(h);
            if (probs is not null) atts!.Add(probs);
        }
        if (ctx.BlockedRelativeTerms > 0) Interlocked.Add(ref _blockedRelativeTerms, ctx.BlockedRelativeTerms);
        Scopes.MoveOut(scope, new[] { h }.Concat(hidden ?? []).Concat(atts ?? []));
        return (h, hidden, atts);
    }

    private AttentionContext BuildContext(Tensor hiddenStates, Tensor attentionMask)
    {
        long l = hiddenStates.shape[1];
        var device = hiddenStates.device;
        var keep = attentionMask.ne(0);                                                  // [B, L] bool
        // m_i * m_j != 0 → attend; with no padding at all the fill is skipped (it would change nothing).
        Tensor? maskedOut = keep.all().item<bool>()
            ? null
            : keep.unsqueeze(1).unsqueeze(2).logical_and(keep.unsqueeze(1).unsqueeze(3)).logical_not(); // [B, 1, L, L]
        if (rel_embeddings is null)
            return new AttentionContext { MaskedOut = maskedOut, TFMaskedSoftmax = TFMaskedSoftmax };

        int span = (int)Math.Min(l, _maxRelative);
        var table = rel_embeddings.weight!;                                              // [2 max_rel, H]
        var relEmb = table.narrow(0, _maxRelative - span, 2 * span);                     // [2s, H]
        // Inference: the layers reuse their projections of the whole table while this checksum (and theirs) holds.
        double? checksum = !training && !is_grad_enabled() && RelativeProjectionCache.Supports(table)
            ? RelativeProjectionCache.Checksum(table)
            : null;
        if (span == l && !ForceGather)
            return new AttentionContext
            {
                MaskedOut = maskedOut, TFMaskedSoftmax = TFMaskedSoftmax, Span = span, StridedRelative = true, RelEmbeddings = relEmb,
                RelTable = table, RelOffset = _maxRelative - span, RelTableChecksum = checksum, BandRows = RelativeBandRows,
            };
        var pos = arange(l, dtype: ScalarType.Int64, device: device);
        var rel = pos.unsqueeze(1) - pos.unsqueeze(0);                                   // [L, L]: i - j
        var c2p = (rel + span).clamp(0, 2 * span - 1);                                   // [L, L]
        var p2c = c2p.t().contiguous();                                                  // [L(j), L(i)]
        var c2pReversed = (2 * span - 1) - c2p;                                          // [L, L]
        return new AttentionContext
        {
            MaskedOut = maskedOut, TFMaskedSoftmax = TFMaskedSoftmax, Span = span, C2PIndexReversed = c2pReversed, P2CIndex = p2c, RelEmbeddings = relEmb,
            RelTable = table, RelOffset = _maxRelative - span, RelTableChecksum = checksum,
        };
    }
}
