namespace DebertaSharp.Tests.Modeling;

/// <summary>Small configurations for unit tests that need a model but no fixture.</summary>
internal static class TinyConfigs
{
    /// <summary>Vocabulary 40, hidden 16, one layer, two heads, relative attention with c2p and p2c; optionally edited.</summary>
    public static DebertaConfig Tiny(Func<DebertaConfig, DebertaConfig>? edit = null)
    {
        var c = new DebertaConfig
        {
            VocabSize = 40, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 20,
            MaxPositionEmbeddings = 16, RelativeAttention = true, PosAttType = ["c2p", "p2c"],
        };
        return edit is null ? c : edit(c);
    }
}
