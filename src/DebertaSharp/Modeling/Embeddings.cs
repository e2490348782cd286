using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

// Mirrors transformers' DebertaEmbeddings: word (+ absolute position) (+ token type) embeddings, optional
// embed_proj, DebertaLayerNorm, multiplied by the 2-D mask as a column, dropout.
internal sealed class DebertaEmbeddings : nn.Module
{
    private readonly Embedding word_embeddings;
    private readonly Embedding? position_embeddings;
    private readonly Embedding? token_type_embeddings;
    private readonly Linear? embed_proj;
    private readonly DebertaLayerNorm LayerNorm;
    private readonly double _dropout;

    public DebertaEmbeddings(DebertaConfig config) : base(nameof(DebertaEmbeddings))
    {
        int emb = config.EffectiveEmbeddingSize;
        word_embeddings = nn.Embedding(config.VocabSize, emb, padding_idx: config.PaddingRow);
        if (config.PositionBiasedInput)
            position_embeddings = nn.Embedding(config.MaxPositionEmbeddings, emb);
        if (config.TypeVocabSize > 0)
            token_type_embeddings = nn.Embedding(config.TypeVocabSize, emb);
        if (emb != config.HiddenSize)
            embed_proj = nn.Linear(emb, config.HiddenSize, hasBias: false);
        LayerNorm = new DebertaLayerNorm(config.HiddenSize, config.LayerNormEps);
        _dropout = config.HiddenDropoutProb;
        RegisterComponents();
    }

    public Embedding WordEmbeddings => word_embeddings;

    /// <param name="inputIds">[B, L] int64, or null when <paramref name="inputsEmbeds"/> is given.</param>
    /// <param name="tokenTypeIds">[B, L] int64.</param>
    /// <param name="positionIds">[B, L] or [L] int64, or null for 0..L-1.</param>
    /// <param name="mask">[B, L] attention mask, multiplied in as a column.</param>
    /// <param name="inputsEmbeds">[B, L, E].</param>
    public Tensor Forward(Tensor? inputIds, Tensor tokenTypeIds, Tensor? positionIds, Tensor mask, Tensor? inputsEmbeds)
    {
        using var scope = NewDisposeScope();
        var embeddings = inputsEmbeds ?? word_embeddings.forward(inputIds!);              // [B, L, E]
        long seq = embeddings.shape[1];
        if (position_embeddings is not null)
        {
            var pos = positionIds ?? arange(seq, dtype: ScalarType.Int64, device: embeddings.device).unsqueeze(0); // [1, L]
            embeddings = embeddings + position_embeddings.forward(pos.to(ScalarType.Int64));
        }
        if (token_type_embeddings is not null)
            embeddings = embeddings + token_type_embeddings.forward(tokenTypeIds);
        if (embed_proj is not null)
            embeddings = embed_proj.forward(embeddings);                                // [B, L, H]
        embeddings = LayerNorm.forward(embeddings);
        embeddings = embeddings * mask.unsqueeze(2).to(embeddings.dtype);               // [B, L, H] * [B, L, 1]
        embeddings = nn.functional.dropout(embeddings, _dropout, training);
        return embeddings.MoveToOuterDisposeScope();
    }
}
