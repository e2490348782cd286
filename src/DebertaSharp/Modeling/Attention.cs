using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>
/// Per-forward data shared by every layer: the boolean "masked out" matrix and the relative position gather
/// indices, built once per (L, span) in <see cref="DebertaEncoder"/> and disposed with the forward's scope.
/// </summary>
internal sealed class AttentionContext
{
    /// <summary>[B, 1, L, L] bool, true where a query may NOT attend to a key; null when nothing is masked.</summary>
    public Tensor? MaskedOut { get; init; }

    /// <summary>att_span = min(L, max_relative_positions); 0 without relative attention.</summary>
    public int Span { get; init; }

    /// <summary>[L, L] int64: 2 span - 1 - clamp(i - j + span, 0, 2 span - 1) for query i and key j (the c2p index into
    /// the reversed position operand).</summary>
    public Tensor? C2PIndexReversed { get; init; }

    /// <summary>[L(j), L(i)] int64: clamp(i - j + span, 0, 2 span - 1) at [j, i], contiguous (the p2c index in the key
    /// frame).</summary>
    public Tensor? P2CIndex { get; init; }

    /// <summary>True when L == span (no clamping): the relative terms are read through strided views, not gathered.</summary>
    public bool StridedRelative { get; init; }

    /// <summary>With <see cref="StridedRelative"/>: the relative terms of sequences longer than this are computed in
    /// blocks of this many queries (c2p) or keys (p2c); 0 = never.</summary>
    public long BandRows { get; init; }

    /// <summary>How many relative terms (c2p or p2c, per layer) this forward computed in blocks of <see cref="BandRows"/>;
    /// a test hook (<see cref="DebertaEncoder.BlockedRelativeTerms"/>).</summary>
    public int BlockedRelativeTerms { get; set; }

    /// <summary>[2 span, H] rows of encoder.rel_embeddings for this span (pos dropout applied per layer).</summary>
    public Tensor? RelEmbeddings { get; init; }

    /// <summary>[2 max_rel, H] the whole encoder.rel_embeddings table; <see cref="RelEmbeddings"/> is rows
    /// [<see cref="RelOffset"/>, <see cref="RelOffset"/> + 2 span) of it.</summary>
    public Tensor? RelTable { get; init; }

    /// <summary>max_relative_positions - span: the first row of <see cref="RelTable"/> this forward uses.</summary>
    public long RelOffset { get; init; }

    /// <summary>
    /// Set only for inference (eval mode, gradients off, fp32): the checksum of <see cref="RelTable"/>, with which the
    /// layers may reuse their cached projections of the whole table (<see cref="RelativeProjectionCache"/>).
    /// </summary>
    public double? RelTableChecksum { get; init; }

    /// <summary>
    /// The TF family's masked softmax (TFDebertaXSoftmax): masked scores become -inf and their probabilities 0 after the
    /// softmax, so a fully padded query row is all zeros; the PyTorch family (5.x) fills the dtype minimum, which leaves
    /// such a row uniform. Rows with at least one real key are the same either way.
    /// </summary>
    public bool TFMaskedSoftmax { get; init; }

    public static Scalar MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float64 => double.MinValue,
        _ => float.MinValue,
    };
}

// Mirrors transformers' DisentangledSelfAttention (DeBERTa v1): one in_proj [3H, H] whose rows are interleaved per
// head (q, k, v blocks of d rows for each head), q_bias / v_bias, c2p and p2c relative terms, optional talking heads.
internal sealed class DisentangledSelfAttention : nn.Module
{
    private readonly Linear in_proj;
    private readonly Parameter q_bias;
    private readonly Parameter v_bias;
    private readonly Linear? pos_proj;
    private readonly Linear? pos_q_proj;
    private readonly Linear? head_logits_proj;
    private readonly Linear? head_weights_proj;

    private readonly int _heads;
    private readonly int _headSize;
    private readonly bool _relative;
    private readonly bool _c2p;
    private readonly bool _p2c;
    private readonly double _scale;
    private readonly double _attDropout;
    private readonly double _posDropout;
    private readonly RelativeProjectionCache _posKeyCache = new();
    private readonly RelativeProjectionCache _posQueryCache = new();

    public DisentangledSelfAttention(DebertaConfig config) : base(nameof(DisentangledSelfAttention))
    {
        if (config.HiddenSize % config.NumAttentionHeads != 0)
            throw new DebertaConfigException("num_attention_heads",
                $"the hidden size ({config.HiddenSize}) is not a multiple of the number of attention heads ({config.NumAttentionHeads})");
        _heads = config.NumAttentionHeads;
        _headSize = config.HiddenSize / config.NumAttentionHeads;
        int all = _heads * _headSize;
        in_proj = nn.Linear(config.HiddenSize, all * 3, hasBias: false);
        q_bias = new Parameter(zeros(all));
        v_bias = new Parameter(zeros(all));
        var types = config.PosAttTypes;
        if (config.UseTalkingHead)
        {
            head_logits_proj = nn.Linear(_heads, _heads, hasBias: false);
            head_weights_proj = nn.Linear(_heads, _heads, hasBias: false);
        }
        _relative = config.RelativeAttention;
        if (_relative)
        {
            _c2p = types.Contains("c2p");
            _p2c = types.Contains("p2c");
            if (_c2p) pos_proj = nn.Linear(config.HiddenSize, all, hasBias: false);
            if (_p2c) pos_q_proj = nn.Linear(config.HiddenSize, all, hasBias: true);
        }
        // Every pos_att_type entry counts in the scale, whether or not it is computed.
        _scale = Math.Sqrt(_headSize * (1.0 + types.Count));
        _attDropout = config.AttentionProbsDropoutProb;
        _posDropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Parameter QBias => q_bias;
    public Parameter VBias => v_bias;

    /// <summary>[B, L, H] → ([B, L, H] context, [B, heads, L, L] probabilities when asked).</summary>
    /// <remarks>
    /// Internally the per-head tensors are laid out heads first, [heads, B, L, ·]: then the relative terms are one
    /// batched product per head over all B·L queries against a [heads, d, 2s] operand shared by the batch (a [B, heads]
    /// layout makes LibTorch copy that operand once per sequence), and the scores need no re-layout.
    /// </remarks>
    public (Tensor Context, Tensor? Probs) Forward(Tensor hiddenStates, AttentionContext ctx, bool outputAttentions)
    {
        using var scope = NewDisposeScope();
        long b = hiddenStates.shape[0], l = hiddenStates.shape[1];
        var dtype = hiddenStates.dtype;

        // [B, L, 3H] → [B, L, heads, 3d] → [heads, B, L, 3d]; per head the 3d columns are q | k | v.
        var qkv = in_proj.forward(hiddenStates).view(b, l, _heads, 3 * _headSize).permute(2, 0, 1, 3);
        var chunks = qkv.chunk(3, -1);                                                   // 3 x [heads, B, L, d] views
        // q + q_bias, then / sqrt(d * (1 + len(pos_att_type))), the scale rounded to the working dtype as HF does.
        var q = Fresh(chunks[0]).add_(q_bias.view(_heads, 1, 1, _headSize)).div_(ScaleIn(dtype)); // [heads, B, L, d]
        var k = chunks[1].contiguous();                                                  // [heads, B, L, d]
        var v = Fresh(chunks[2]).add_(v_bias.view(_heads, 1, 1, _headSize));            // [heads, B, L, d]

        var scores = matmul(q, k.transpose(-1, -2));                                     // [heads, B, L, L]

        if (_relative && ctx.RelEmbeddings is not null && (_c2p || _p2c))
            AddRelativeScores(scores, q, k, ctx, b, l);                                  // [heads, B, L, L], in place

        if (head_logits_proj is not null)                                                // mix heads: [B, L, L, heads]
            scores = head_logits_proj.forward(scores.permute(1, 2, 3, 0)).permute(3, 0, 1, 2);

        var maskedOut = ctx.MaskedOut?.permute(1, 0, 2, 3);                              // [1, B, L, L]
        Tensor probs;
        if (maskedOut is not null && ctx.TFMaskedSoftmax)
            probs = scores.masked_fill(maskedOut, double.NegativeInfinity).softmax(-1).masked_fill(maskedOut, 0); // [heads, B, L, L]
        else
        {
            if (maskedOut is not null)
                scores = scores.masked_fill(maskedOut, AttentionContext.MinValue(scores.dtype)); // [heads, B, L, L]
            probs = scores.softmax(-1);
        }
        probs = nn.functional.dropout(probs, _attDropout, training);
        if (head_weights_proj is not null)
            probs = head_weights_proj.forward(probs.permute(1, 2, 3, 0)).permute(3, 0, 1, 2);

        var context = matmul(probs, v)                                                  // [heads, B, L, d]
            .permute(1, 2, 0, 3).contiguous().view(b, l, _heads * _headSize);             // [B, L, H]
        context.MoveToOuterDisposeScope();
        Tensor? attentions = outputAttentions ? probs.permute(1, 0, 2, 3).contiguous().MoveToOuterDisposeScope() : null; // [B, heads, L, L]
        return (context, attentions);
    }

    /// <summary>A tensor with <paramref name="t"/>'s values in its own contiguous memory (so it can be updated in place).</summary>
    private static Tensor Fresh(Tensor t) => t.is_contiguous() ? t.clone() : t.contiguous();

    /// <summary>
    /// c2p[i, j] = q_i · pos_proj(R)[r] and p2c[i, j] = k_j · (pos_q_proj(R)[r] / scale), r = clamp(i - j + s, 0, 2s - 1),
    /// added to <paramref name="scores"/> [heads, B, L, L] in place. The position operands are [heads, d, 2s], pos_proj's
    /// with its positions reversed (column m holds position 2s - 1 - m). When L == span no clamping happens and both terms
    /// are read from the products through strided views: row i of c2p is a contiguous run of the reversed product, row j
    /// of p2cᵀ one of the plain product. Each row needs only L of the 2s columns, so for long inputs the queries (c2p) and
    /// keys (p2c) go in blocks of <see cref="AttentionContext.BandRows"/>, each against the L + rows - 1 columns it reads.
    /// Otherwise (L > max_relative_positions) the terms are gathered with the clamped indices.
    /// </summary>
    private void AddRelativeScores(Tensor scores, Tensor q, Tensor k, AttentionContext ctx, long b, long l)
    {
        var rel = nn.functional.dropout(ctx.RelEmbeddings!, _posDropout, training);      // [2s, H]
        long twoSpan = rel.shape[0];
        bool strided = ctx.StridedRelative;
        long band = strided && ctx.BandRows > 0 && ctx.BandRows < l ? ctx.BandRows : l;
        if (pos_proj is not null)
        {
            var keyT = PositionOperand(pos_proj, _posKeyCache, rel, ctx, reversed: true); // [heads, d, 2s], reversed
            if (!strided)
            {
                var c2p = matmul(q.view(_heads, b * l, _headSize), keyT).view(_heads, b, l, twoSpan); // [heads, B, L, 2s]
                scores.add_(c2p.gather(-1, ctx.C2PIndexReversed!.expand(_heads, b, l, l)));          // [heads, B, L, L]
            }
            else
            {
                if (band < l) ctx.BlockedRelativeTerms++;
                for (long i0 = 0; i0 < l; i0 += band)
                {
                    long rows = Math.Min(band, l - i0), width = l + rows - 1, first = l - rows - i0;
                    // Block rows i0 + ii read reversed columns first + (rows - 1 - ii + j): offset ii (width - 1) + j + rows - 1.
                    var c2p = matmul(q.narrow(2, i0, rows).reshape(_heads, b * rows, _headSize), keyT.narrow(2, first, width)); // [heads, B·rows, width]
                    scores.narrow(2, i0, rows).add_(c2p.as_strided([_heads, b, rows, l], [b * rows * width, rows * width, width - 1, 1], c2p.storage_offset() + rows - 1));
                }
            }
        }
        if (pos_q_proj is not null)
        {
            var queryT = PositionOperand(pos_q_proj, _posQueryCache, rel, ctx, reversed: false).to(k.dtype); // [heads, d, 2s], / scale
            if (!strided)
            {
                var p2c = matmul(k.view(_heads, b * l, _headSize), queryT).view(_heads, b, l, twoSpan); // [heads, B, L(j), 2s]
                scores.add_(p2c.gather(-1, ctx.P2CIndex!.expand(_heads, b, l, l)).transpose(-1, -2)); // [heads, B, L(i), L(j)]
            }
            else
            {
                if (band < l) ctx.BlockedRelativeTerms++;
                for (long j0 = 0; j0 < l; j0 += band)
                {
                    long rows = Math.Min(band, l - j0), width = l + rows - 1, first = l - j0 - rows + 1;
                    // Block keys j0 + jj read columns first + (i - jj + rows - 1): offset jj (width - 1) + i + rows - 1.
                    var p2c = matmul(k.narrow(2, j0, rows).reshape(_heads, b * rows, _headSize), queryT.narrow(2, first, width)); // [heads, B·rows, width]
                    var p2cT = p2c.as_strided([_heads, b, rows, l], [b * rows * width, rows * width, width - 1, 1], p2c.storage_offset() + rows - 1) // [heads, B, rows(j), L(i)]
                        .transpose(-1, -2);                                                                                      // [heads, B, L(i), rows(j)]
                    // Half precision: LibTorch's add reads a transposed bf16 / fp16 operand element by element (1.8 ms a
                    // layer at 8x128); a transposing copy, then a plain add, takes 1.1. In fp32 the two cost the same.
                    if (p2c.dtype is ScalarType.BFloat16 or ScalarType.Float16) p2cT = p2cT.contiguous();
                    scores.narrow(3, j0, rows).add_(p2cT);
                }
            }
        }
    }

    /// <summary>
    /// The [heads, d, 2s] operand of a relative term for this forward's rows: proj(rel) split per head and transposed
    /// (positions reversed for c2p; divided by the scale for p2c, as HF divides pos_query_layer by an fp32 scalar). In
    /// inference it is a slice of the cached operand over the whole table (it depends on weights only, so it is the same
    /// for every input); otherwise computed.
    /// </summary>
    private Tensor PositionOperand(Linear proj, RelativeProjectionCache cache, Tensor rel, AttentionContext ctx, bool reversed)
    {
        long twoSpan = rel.shape[0];
        if (ctx.RelTableChecksum is double tableChecksum && RelativeProjectionCache.Supports(proj.weight!))
        {
            var whole = cache.Get(proj, ctx.RelTable!, tableChecksum, p => Operand(p, reversed));          // [heads, d, 2 max_rel]
            // This forward's rows [RelOffset, RelOffset + 2s) of the table; reversed, they start at 2 max_rel - RelOffset - 2s.
            return whole.narrow(2, reversed ? whole.shape[2] - ctx.RelOffset - twoSpan : ctx.RelOffset, twoSpan); // [heads, d, 2s]
        }
        return Operand(proj.forward(rel), reversed);                                                        // [heads, d, 2s]
    }

    /// <summary>[rows, H] projected positions → [heads, d, rows] contiguous (reversed rows for c2p, / scale for p2c).</summary>
    private Tensor Operand(Tensor projected, bool reversed)
    {
        long rows = projected.shape[0];
        var t = (reversed ? projected.flip(0) : projected).view(rows, _heads, _headSize).permute(1, 2, 0); // [heads, d, rows]
        return reversed ? t.contiguous() : (t / (float)_scale).contiguous();
    }

    private Tensor ScaleIn(ScalarType dtype) => tensor((float)_scale).to(dtype);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _posKeyCache.Dispose();
            _posQueryCache.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// Inference cache of pos_proj / pos_q_proj applied to the whole relative-embedding table. Those products depend on
/// weights only, yet cost as much as a quarter of a deberta-base forward on one short sequence; ONNX Runtime folds
/// them into constants. The cache is checked on every use against checksums of the table and of the projection's
/// weight and bias (an fp32 dot product with a fixed random probe), so weights changed in place (an optimizer step, a
/// state-dict load) are not served stale. The checksum is not a hash: a change too small to move an fp32 sum (a few
/// weights nudged by ~1e-7 relative) can go unseen, leaving an error of that same size. Used only in eval mode with
/// gradients off and CPU weights in fp32, bf16 or fp16.
/// </summary>
internal sealed class RelativeProjectionCache : IDisposable
{
    private static readonly object ProbeLock = new();
    private static Tensor? _probe;

    private readonly object _gate = new();
    private Tensor? _value;
    private double _tableChecksum, _weightChecksum, _biasChecksum;

    /// <summary>Whether <paramref name="t"/> can be checksummed (and so cached): fp32, bf16 or fp16 on the CPU.</summary>
    public static bool Supports(Tensor t) =>
        (t.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16) && t.device_type == DeviceType.CPU;

    /// <summary>
    /// <paramref name="layout"/>(proj(table)) (proj(table) is [rows, H]), recomputed when the table or the projection
    /// changed since the last call. Forwards of one
    /// model may run on several threads at once (inference with shared weights is read-only): the check and the refill
    /// are one critical section, so one thread never disposes the value another has just been handed.
    /// </summary>
    public Tensor Get(Linear proj, Tensor table, double tableChecksum, Func<Tensor, Tensor> layout)
    {
        var weight = proj.weight!;
        double w = Checksum(weight), b = proj.bias is null ? 0 : Checksum(proj.bias);
        lock (_gate)
        {
            if (_value is null || _value.IsInvalid || tableChecksum != _tableChecksum || w != _weightChecksum || b != _biasChecksum)
            {
                _value?.Dispose();
                using (var fill = NewDisposeScope())
                using (no_grad())
                    _value = layout(proj.forward(table)).DetachFromDisposeScope();      // layout of [rows, H]
                (_tableChecksum, _weightChecksum, _biasChecksum) = (tableChecksum, w, b);
            }
            return _value;
        }
    }

    /// <summary>Σ t[i] · probe[i] over the flattened tensor (CPU; half-precision values are widened to fp32 first, which
    /// is exact), the probe a fixed normal(0, 1) vector.</summary>
    public static double Checksum(Tensor t)
    {
        using var scope = NewDisposeScope();
        long n = t.numel();
        Tensor probe;
        lock (ProbeLock)
        {
            if (_probe is null || _probe.numel() < n)
            {
                _probe?.Dispose();
                using var generator = new Generator(0x5eed);
                using (no_grad())
                    _probe = randn(n, generator: generator).DetachFromDisposeScope();
            }
            probe = _probe.narrow(0, 0, n);
        }
        var flat = t.detach().reshape(-1);
        return (flat.dtype == ScalarType.Float32 ? flat : flat.to(ScalarType.Float32)).dot(probe).item<float>();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _value?.Dispose();
            _value = null;
        }
    }
}

// Mirrors transformers' DebertaSelfOutput: LN(dropout(dense(x)) + input).
internal sealed class DebertaSelfOutput : nn.Module
{
    private readonly Linear dense;
    private readonly DebertaLayerNorm LayerNorm;
    private readonly double _dropout;

    public DebertaSelfOutput(DebertaConfig config) : base(nameof(DebertaSelfOutput))
    {
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = new DebertaLayerNorm(config.HiddenSize, config.LayerNormEps);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Tensor Forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.dropout(dense.forward(hiddenStates), _dropout, training);
        return LayerNorm.forward(x + inputTensor).MoveToOuterDisposeScope();
    }
}

// Mirrors transformers' DebertaAttention: self-attention, then the output block with the residual.
internal sealed class DebertaAttention : nn.Module
{
    private readonly DisentangledSelfAttention self;
    private readonly DebertaSelfOutput output;

    public DebertaAttention(DebertaConfig config) : base(nameof(DebertaAttention))
    {
        self = new DisentangledSelfAttention(config);
        output = new DebertaSelfOutput(config);
        RegisterComponents();
    }

    public (Tensor Output, Tensor? Probs) Forward(Tensor hiddenStates, AttentionContext ctx, bool outputAttentions)
    {
        using var scope = NewDisposeScope();
        var (context, probs) = self.Forward(hiddenStates, ctx, outputAttentions);
        var result = output.Forward(context, hiddenStates).MoveToOuterDisposeScope();
        probs?.MoveToOuterDisposeScope();
        return (result, probs);
    }
}
