using System.Text.RegularExpressions;

namespace DebertaSharp.TensorFlow;

/// <summary>One Keras variable of a TF DeBERTa model: its name below the model (<c>deberta/encoder/.../kernel:0</c>) and shape.</summary>
/// <param name="Name">The variable name without the model's own name (the first component), with the <c>:0</c> suffix.</param>
/// <param name="Shape">The Keras shape (Dense kernels are [in, out]).</param>
internal sealed record KerasVariable(string Name, long[] Shape)
{
    /// <summary>The PyTorch state-dict name (as Hugging Face's <c>convert_tf_weight_name_to_pt_weight_name</c> makes it).</summary>
    public string PtName => KerasNames.ToPt(Name).Name;

    /// <summary>Whether the PyTorch tensor is the transpose of this variable (a rank-2 Dense kernel).</summary>
    public bool Transposed => KerasNames.ToPt(Name).Transpose && Shape.Length == 2;
}

/// <summary>A top-level Keras layer of the model (an h5 group): its name and its weights in Keras's order.</summary>
internal sealed record KerasLayer(string Name, IReadOnlyList<KerasVariable> Weights);

/// <summary>
/// Hugging Face's TF↔PyTorch weight-name rules (modeling_tf_pytorch_utils.convert_tf_weight_name_to_pt_weight_name).
/// </summary>
internal static partial class KerasNames
{
    [GeneratedRegex(@"/[^/]*___([^/]*)/")]
    private static partial Regex TripleUnderscore();

    [GeneratedRegex(@"//+")]
    private static partial Regex EmptyLevels();

    /// <summary>
    /// TF name → PyTorch name: drop <c>:0</c>, <c>a___b</c> → <c>b</c>, <c>_._</c> → a level, drop the first level when
    /// there are several, last level <c>kernel</c>/<c>embeddings</c>/<c>gamma</c> → <c>weight</c> and <c>beta</c> →
    /// <c>bias</c>, join with dots. <paramref name="nameBelowModel"/> has its model prefix removed already, so
    /// a level is put in front before the rule drops one.
    /// </summary>
    public static (string Name, bool Transpose) ToPt(string nameBelowModel) => ToPtFull("model/" + nameBelowModel);

    /// <summary>The same rule on a full TF name (model name first).</summary>
    public static (string Name, bool Transpose) ToPtFull(string tfName)
    {
        string n = tfName.Replace(":0", "", StringComparison.Ordinal);
        n = TripleUnderscore().Replace(n, "/$1/");
        n = n.Replace("_._", "/", StringComparison.Ordinal);
        n = EmptyLevels().Replace(n, "/");
        var parts = n.Split('/').ToList();
        if (parts.Count > 1) parts.RemoveAt(0);
        bool transpose = parts[^1] == "kernel";
        if (parts[^1] is "kernel" or "embeddings" or "gamma") parts[^1] = "weight";
        else if (parts[^1] == "beta") parts[^1] = "bias";
        return (string.Join('.', parts), transpose);
    }

    /// <summary>Drops the first component of a saved weight name (the model name), as load_tf_weights_from_h5 does.</summary>
    public static string BelowModel(string savedName)
    {
        int slash = savedName.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? savedName : savedName[(slash + 1)..];
    }
}

/// <summary>
/// The Keras structure of the TF DeBERTa classes of transformers 4.x (modeling_tf_deberta.py): the model name, the
/// top-level layers (<c>model.layers</c>, the h5 groups) and each layer's weights in Keras's <c>layer.weights</c> order
/// (own weights first, then sub-layers in the order they were assigned).
/// </summary>
internal static class KerasLayout
{
    /// <summary>Keras's default model name: the class name in snake case (<c>TFDebertaForMaskedLM</c> → <c>tf_deberta_for_masked_lm</c>).</summary>
    public static string ModelName(DebertaHead head) => head switch
    {
        DebertaHead.Base => "tf_deberta_model",
        DebertaHead.MaskedLM => "tf_deberta_for_masked_lm",
        DebertaHead.SequenceClassification => "tf_deberta_for_sequence_classification",
        DebertaHead.TokenClassification => "tf_deberta_for_token_classification",
        DebertaHead.QuestionAnswering => "tf_deberta_for_question_answering",
        _ => throw new ArgumentOutOfRangeException(nameof(head), head, "unknown head"),
    };

    /// <summary>The TF class name of a head.</summary>
    public static string ClassName(DebertaHead head) => "TF" + DebertaPreTrainedModel.ArchitectureName(head);

    /// <summary>The top-level layers of the model of <paramref name="head"/> for <paramref name="config"/>.</summary>
    public static IReadOnlyList<KerasLayer> Layers(DebertaConfig config, DebertaHead head)
    {
        var main = new KerasLayer("deberta", MainLayer(config));
        long h = config.HiddenSize, labels = config.NumLabels;
        return head switch
        {
            DebertaHead.Base => [main],
            // TFDebertaOnlyMLMHead ("cls"): the prediction head tracks the input embeddings layer as a sub-layer, so
            // its weights (and the h5 group "cls") list the embedding variables again after its own.
            DebertaHead.MaskedLM => [main, new KerasLayer("cls", [.. MlmHead(config), .. Embeddings(config)])],
            DebertaHead.SequenceClassification =>
            [
                main,
                new KerasLayer("pooler", [.. Dense("pooler/dense", config.EffectivePoolerHiddenSize, config.EffectivePoolerHiddenSize, bias: true)]),
                new KerasLayer("cls_dropout", []),
                new KerasLayer("classifier", [.. Dense("classifier", h, labels, bias: true)]),
            ],
            // keras.layers.Dropout without a name: Keras calls the first one "dropout".
            DebertaHead.TokenClassification => [main, new KerasLayer("dropout", []), new KerasLayer("classifier", [.. Dense("classifier", h, labels, bias: true)])],
            DebertaHead.QuestionAnswering => [main, new KerasLayer("qa_outputs", [.. Dense("qa_outputs", h, labels, bias: true)])],
            _ => throw new ArgumentOutOfRangeException(nameof(head), head, "unknown head"),
        };
    }

    /// <summary>Every distinct variable of the model (the tied copies in <c>cls</c> once).</summary>
    public static IReadOnlyList<KerasVariable> Variables(DebertaConfig config, DebertaHead head)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return Layers(config, head).SelectMany(l => l.Weights).Where(v => seen.Add(v.Name)).ToList();
    }

    // TFDebertaMainLayer: embeddings, encoder.
    private static List<KerasVariable> MainLayer(DebertaConfig config)
    {
        var list = Embeddings(config);
        long h = config.HiddenSize;
        if (config.RelativeAttention)
            list.Add(new("deberta/encoder/rel_embeddings.weight:0", [config.EffectiveMaxRelativePositions * 2L, h]));
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string p = $"deberta/encoder/layer_._{i}/";
            // TFDebertaDisentangledSelfAttention: q_bias, v_bias (own), in_proj, talking heads, pos_proj, pos_q_proj.
            list.Add(new(p + "attention/self/q_bias:0", [h]));
            list.Add(new(p + "attention/self/v_bias:0", [h]));
            list.AddRange(Dense(p + "attention/self/in_proj", h, 3 * h, bias: false));
            if (config.UseTalkingHead)
            {
                list.AddRange(Dense(p + "attention/self/head_logits_proj", config.NumAttentionHeads, config.NumAttentionHeads, bias: false));
                list.AddRange(Dense(p + "attention/self/head_weights_proj", config.NumAttentionHeads, config.NumAttentionHeads, bias: false));
            }
            if (config.RelativeAttention)
            {
                if (config.PosAttTypes.Contains("c2p")) list.AddRange(Dense(p + "attention/self/pos_proj", h, h, bias: false));
                if (config.PosAttTypes.Contains("p2c")) list.AddRange(Dense(p + "attention/self/pos_q_proj", h, h, bias: true));
            }
            // TFDebertaSelfOutput ("attention/output"), TFDebertaIntermediate, TFDebertaOutput ("output").
            list.AddRange(Dense(p + "attention/output/dense", h, h, bias: true));
            list.AddRange(LayerNorm(p + "attention/output/LayerNorm", h));
            list.AddRange(Dense(p + "intermediate/dense", h, config.IntermediateSize, bias: true));
            list.AddRange(Dense(p + "output/dense", config.IntermediateSize, h, bias: true));
            list.AddRange(LayerNorm(p + "output/LayerNorm", h));
        }
        return list;
    }

    // TFDebertaEmbeddings: word / token type / position tables (own, built in that order), then embed_proj, LayerNorm.
    private static List<KerasVariable> Embeddings(DebertaConfig config)
    {
        long e = config.EffectiveEmbeddingSize, h = config.HiddenSize;
        var list = new List<KerasVariable> { new("deberta/embeddings/word_embeddings/weight:0", [config.VocabSize, e]) };
        if (config.TypeVocabSize > 0) list.Add(new("deberta/embeddings/token_type_embeddings/embeddings:0", [config.TypeVocabSize, e]));
        // The TF class builds the position table [max_position_embeddings, hidden_size], which it cannot add to E-wide
        // embeddings when embedding_size != hidden_size; [.., E] (the PyTorch shape, the same when E == H) is the working one.
        if (config.PositionBiasedInput) list.Add(new("deberta/embeddings/position_embeddings/embeddings:0", [config.MaxPositionEmbeddings, e]));
        if (e != h) list.AddRange(Dense("deberta/embeddings/embed_proj", e, h, bias: false));
        list.AddRange(LayerNorm("deberta/embeddings/LayerNorm", h));
        return list;
    }

    // TFDebertaLMPredictionHead: bias (own), transform (dense, LayerNorm).
    private static List<KerasVariable> MlmHead(DebertaConfig config)
    {
        long e = config.EffectiveEmbeddingSize;
        var list = new List<KerasVariable> { new("cls/predictions/bias:0", [config.VocabSize]) };
        list.AddRange(Dense("cls/predictions/transform/dense", config.HiddenSize, e, bias: true));
        list.AddRange(LayerNorm("cls/predictions/transform/LayerNorm", e));
        return list;
    }

    private static IEnumerable<KerasVariable> Dense(string scope, long inputs, long units, bool bias)
    {
        yield return new(scope + "/kernel:0", [inputs, units]);
        if (bias) yield return new(scope + "/bias:0", [units]);
    }

    private static IEnumerable<KerasVariable> LayerNorm(string scope, long size)
    {
        yield return new(scope + "/gamma:0", [size]);
        yield return new(scope + "/beta:0", [size]);
    }
}
