using System.Collections.ObjectModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using DebertaSharp.Modeling;

namespace DebertaSharp;

/// <summary>
/// The configuration of a DeBERTa (v1) model, read from and written to Hugging Face's <c>config.json</c>.
/// Mirrors transformers' <c>DebertaConfig</c> (defaults are Hugging Face's); keys this type does not model are kept in
/// <see cref="ExtensionData"/> and written back.
/// </summary>
public sealed record DebertaConfig
{
    /// <summary>Vocabulary size (<c>vocab_size</c>).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50265;

    /// <summary>Hidden size of the encoder (<c>hidden_size</c>).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;

    /// <summary>Number of encoder layers (<c>num_hidden_layers</c>).</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;

    /// <summary>Number of attention heads (<c>num_attention_heads</c>).</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;

    /// <summary>Size of the feed-forward layer (<c>intermediate_size</c>).</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;

    /// <summary>Activation of the feed-forward layer and the MLM transform, by Hugging Face name (<c>hidden_act</c>).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";

    /// <summary>Dropout on hidden states (<c>hidden_dropout_prob</c>).</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities (<c>attention_probs_dropout_prob</c>).</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;

    /// <summary>Size of the absolute position table (<c>max_position_embeddings</c>).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;

    /// <summary>Number of token types; 0 disables token type embeddings (<c>type_vocab_size</c>).</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; }

    /// <summary>Standard deviation of the weight initialisation (<c>initializer_range</c>).</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;

    /// <summary>Epsilon of the layer norms (<c>layer_norm_eps</c>).</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-7;

    /// <summary>Whether disentangled relative attention is used (<c>relative_attention</c>).</summary>
    [JsonPropertyName("relative_attention")] public bool RelativeAttention { get; init; }

    /// <summary>Relative position range; values below 1 mean <see cref="MaxPositionEmbeddings"/> (<c>max_relative_positions</c>).</summary>
    [JsonPropertyName("max_relative_positions")] public int MaxRelativePositions { get; init; } = -1;

    /// <summary>Padding token id; its word embedding row is initialised to zero (<c>pad_token_id</c>).</summary>
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; } = 0;

    /// <summary>Whether absolute position embeddings are added to the input (<c>position_biased_input</c>).</summary>
    [JsonPropertyName("position_biased_input")] public bool PositionBiasedInput { get; init; } = true;

    /// <summary>
    /// Relative attention terms (<c>pos_att_type</c>): a JSON list or a <c>"c2p|p2c"</c> string (split on <c>|</c>,
    /// lower-cased, trimmed). Written back in the form it was read in. Every entry counts in the attention scale.
    /// </summary>
    [JsonPropertyName("pos_att_type")]
    [JsonConverter(typeof(PosAttTypeConverter))]
    public IReadOnlyList<string>? PosAttType { get; init; }

    /// <summary>Dropout of the sequence classification pooler (<c>pooler_dropout</c>).</summary>
    [JsonPropertyName("pooler_dropout")] public double PoolerDropout { get; init; }

    /// <summary>Activation of the sequence classification pooler (<c>pooler_hidden_act</c>).</summary>
    [JsonPropertyName("pooler_hidden_act")] public string PoolerHiddenAct { get; init; } = "gelu";

    /// <summary>Masked LM head layout: <c>true</c> → <c>cls.predictions.*</c>, <c>false</c> → <c>lm_predictions.lm_head.*</c> (<c>legacy</c>).</summary>
    [JsonPropertyName("legacy")] public bool Legacy { get; init; } = true;

    /// <summary>Embedding size when it differs from <see cref="HiddenSize"/> (adds <c>embed_proj</c>); null means hidden size.</summary>
    [JsonPropertyName("embedding_size")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? EmbeddingSize { get; init; }

    /// <summary>Pooler size (<c>pooler_hidden_size</c>); null means hidden size.</summary>
    [JsonPropertyName("pooler_hidden_size")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? PoolerHiddenSize { get; init; }

    /// <summary>Dropout before the sequence classifier (<c>cls_dropout</c>); null means <see cref="HiddenDropoutProb"/>.</summary>
    [JsonPropertyName("cls_dropout")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? ClsDropout { get; init; }

    /// <summary>Talking-heads attention (<c>talking_head</c>).</summary>
    [JsonPropertyName("talking_head")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? TalkingHead { get; init; }

    /// <summary>
    /// Number of labels (<c>num_labels</c>); null means the size of <see cref="Id2Label"/>, or 2. Setting it is Hugging
    /// Face's <c>config.num_labels = n</c>: it wins, and a different-sized <see cref="Id2Label"/> is written back as
    /// <c>LABEL_0</c>.. <c>LABEL_{n-1}</c>. Read from config.json, <c>id2label</c> wins instead (Hugging Face only warns
    /// about a <c>num_labels</c> key that disagrees with it), so the value read is its size.
    /// </summary>
    [JsonPropertyName("num_labels")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? NumLabelsValue { get; init; }

    /// <summary>Label names by id (<c>id2label</c>).</summary>
    [JsonPropertyName("id2label")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonConverter(typeof(LabelNamesConverter))]
    public IReadOnlyDictionary<string, string>? Id2Label { get; init; }

    /// <summary>Label ids by name (<c>label2id</c>).</summary>
    [JsonPropertyName("label2id")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, int>? Label2Id { get; init; }

    /// <summary><c>regression</c>, <c>single_label_classification</c>, <c>multi_label_classification</c> or null (<c>problem_type</c>).</summary>
    [JsonPropertyName("problem_type")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ProblemType { get; init; }

    /// <summary>Model class names (<c>architectures</c>), e.g. <c>DebertaForMaskedLM</c>.</summary>
    [JsonPropertyName("architectures")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Architectures { get; init; }

    /// <summary>Whether the legacy MLM decoder shares the word embeddings (<c>tie_word_embeddings</c>); null means true.</summary>
    [JsonPropertyName("tie_word_embeddings")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? TieWordEmbeddings { get; init; }

    /// <summary>Model type (<c>model_type</c>), <c>deberta</c> for this family (anything else fails <see cref="Validate"/>).</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "deberta";

    /// <summary>Keys of <c>config.json</c> this type does not model; kept and written back unchanged.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? ExtensionData { get; init; }

    /// <summary>Number of labels of the classification heads (<c>num_labels</c>, else the size of <c>id2label</c>, else 2).</summary>
    [JsonIgnore] public int NumLabels => NumLabelsValue ?? Id2Label?.Count ?? 2;

    /// <summary>The embedding size in use (<c>embedding_size</c> or the hidden size).</summary>
    [JsonIgnore] public int EffectiveEmbeddingSize => EmbeddingSize ?? HiddenSize;

    /// <summary>The pooler size in use (<c>pooler_hidden_size</c> or the hidden size).</summary>
    [JsonIgnore] public int EffectivePoolerHiddenSize => PoolerHiddenSize ?? HiddenSize;

    /// <summary>The relative position range in use: <c>max_relative_positions</c>, or <c>max_position_embeddings</c> when below 1.</summary>
    [JsonIgnore] public int EffectiveMaxRelativePositions => MaxRelativePositions < 1 ? MaxPositionEmbeddings : MaxRelativePositions;

    /// <summary>The relative attention terms as a list (empty when unset).</summary>
    [JsonIgnore] public IReadOnlyList<string> PosAttTypes => PosAttType ?? [];

    /// <summary>
    /// Deepest JSON nesting accepted in config.json (System.Text.Json's default, made explicit): a config nests two
    /// levels (id2label, or a task_specific_params entry); unknown keys are kept as JSON, so their depth is bounded too.
    /// </summary>
    internal const int MaxJsonDepth = 64;

    /// <summary>The largest config.json read: 64 MB (hub configs have a few KB; an id2label of a million labels about 30 MB).
    /// The file is read whole into a string before parsing.</summary>
    internal const long MaxFileBytes = 64L << 20;

    /// <summary>The largest <c>vocab_size</c> (and <c>type_vocab_size</c>): the tokenizers' vocabulary limit
    /// (<see cref="Tokenization.TokenizerLimits.MaxVocabSize"/>, five million; the largest public vocabularies have about 256,000).</summary>
    internal const int MaxVocabSize = Tokenization.TokenizerLimits.MaxVocabSize;

    /// <summary>The largest <c>hidden_size</c>, <c>embedding_size</c> and <c>pooler_hidden_size</c>: 65,536, four times the
    /// widest published transformers (16,384; DeBERTa's largest is 1,536).</summary>
    internal const int MaxHiddenSize = 65_536;

    /// <summary>The largest <c>intermediate_size</c>: four times <see cref="MaxHiddenSize"/>, the usual feed-forward ratio.</summary>
    internal const int MaxIntermediateSize = 4 * MaxHiddenSize;

    /// <summary>The largest <c>num_hidden_layers</c>: 1,024 (published models have at most about 128; DeBERTa 48).</summary>
    internal const int MaxLayers = 1_024;

    /// <summary>The largest <c>max_position_embeddings</c> and <c>max_relative_positions</c>: 2^20, far past any context
    /// DeBERTa's quadratic attention can run (512 in every hub checkpoint).</summary>
    internal const int MaxPositions = 1 << 20;

    /// <summary>The largest <c>num_labels</c> (and <c>id2label</c> size): a million classes.</summary>
    internal const int MaxLabels = 1_000_000;

    /// <summary>
    /// The most parameters a configuration may describe (estimated from its sizes before anything is allocated): ten
    /// billion, about seven times deberta-v2-xxlarge (1.5 B) and thirteen times DeBERTa v1's largest (xlarge, 750 M).
    /// Each size can be within its own limit while their products ask for terabytes (vocab_size × hidden_size).
    /// </summary>
    internal const long MaxParameters = 10_000_000_000;

    private static readonly JsonSerializerOptions s_options = new()
    {
        MaxDepth = MaxJsonDepth,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new PythonFloatConverter() },
    };

    /// <summary>The configuration of <c>microsoft/deberta-base</c>.</summary>
    public static DebertaConfig Base { get; } = new()
    {
        RelativeAttention = true, PosAttType = new PosAttTypeList(["c2p", "p2c"], fromString: true),
        PositionBiasedInput = false, MaxRelativePositions = -1,
    };

    /// <summary>The configuration of <c>microsoft/deberta-large</c>.</summary>
    public static DebertaConfig Large { get; } = Base with
    {
        HiddenSize = 1024, NumHiddenLayers = 24, NumAttentionHeads = 16, IntermediateSize = 4096,
    };

    /// <summary>The configuration of <c>microsoft/deberta-xlarge</c>.</summary>
    public static DebertaConfig XLarge { get; } = Base with
    {
        HiddenSize = 1024, NumHiddenLayers = 48, NumAttentionHeads = 16, IntermediateSize = 4096,
    };

    /// <summary>Reads a configuration from a <c>config.json</c> file.</summary>
    /// <exception cref="DebertaConfigException">The JSON is malformed or a value has the wrong type.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static DebertaConfig FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes)
            throw new DebertaConfigException("config", $"the file has {length} bytes, more than the limit of {MaxFileBytes} (DebertaConfig.{nameof(MaxFileBytes)})", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses a configuration from JSON text.</summary>
    /// <exception cref="DebertaConfigException">The JSON is malformed or a value has the wrong type.</exception>
    public static DebertaConfig FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Parse(json, null);
    }

    private static DebertaConfig Parse(string json, string? file)
    {
        try
        {
            var config = JsonSerializer.Deserialize<DebertaConfig>(json, s_options)
                         ?? throw new DebertaConfigException("config", "the JSON is null", file);
            // Hugging Face's PreTrainedConfig derives num_labels from id2label when both are in the file.
            return config is { Id2Label: { } map, NumLabelsValue: { } n } && n != map.Count
                ? config with { NumLabelsValue = map.Count }
                : config;
        }
        catch (JsonException ex)
        {
            string key = ex.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : "config";
            throw new DebertaConfigException(key, ex.Message, file, ex);
        }
    }

    /// <summary>The configuration as indented JSON (snake_case keys, unknown keys kept).</summary>
    public string ToJson()
    {
        var config = this;
        if (Id2Label is { } map && NumLabelsValue is { } n && n != map.Count)
        {
            // num_labels was set after id2label: as Hugging Face's num_labels setter, write LABEL_i names for n labels
            // (else Hugging Face would read the old id2label's size back).
            var id2Label = Enumerable.Range(0, n).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), i => $"LABEL_{i}");
            config = this with { Id2Label = id2Label, Label2Id = id2Label.ToDictionary(kv => kv.Value, kv => int.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture)) };
        }
        return JsonSerializer.Serialize(config, s_options);
    }

    /// <summary>Writes the configuration to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.WriteAllText(path, ToJson());
    }

    /// <summary>Checks the values and throws <see cref="DebertaConfigException"/> naming the first offending key.</summary>
    public void Validate()
    {
        static void Positive(int v, string key)
        {
            if (v <= 0) throw new DebertaConfigException(key, $"must be positive, got {v}");
        }
        static void Probability(double v, string key)
        {
            if (!(v >= 0 && v < 1)) throw new DebertaConfigException(key, $"must be in [0, 1), got {v}");
        }
        // Hugging Face maps model_type to the config and model classes; DeBERTa-v2/v3 ("deberta-v2") and other
        // families are different architectures whose weights would load here only partly, or into the wrong layers.
        if (ModelType != "deberta")
            throw new DebertaConfigException("model_type",
                $"'{ModelType}' is not DeBERTa (v1): this library implements model_type 'deberta' only" +
                (ModelType == "deberta-v2" ? " (DeBERTa-v2/v3 checkpoints have another architecture)" : ""));
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        CheckLimits();
        if (HiddenSize % NumAttentionHeads != 0)
            throw new DebertaConfigException("num_attention_heads",
                $"the hidden size ({HiddenSize}) is not a multiple of the number of attention heads ({NumAttentionHeads})");
        if (TypeVocabSize < 0) throw new DebertaConfigException("type_vocab_size", $"must not be negative, got {TypeVocabSize}");
        if (EmbeddingSize is { } es) Positive(es, "embedding_size");
        if (PoolerHiddenSize is { } ps) Positive(ps, "pooler_hidden_size");
        if (NumLabelsValue is { } nl) Positive(nl, "num_labels");
        // Negative ids count from the end, as nn.Embedding's padding_idx (hub configs with pad_token_id -1 load in HF).
        if (PadTokenId is { } pad && (pad < -VocabSize || pad >= VocabSize))
            throw new DebertaConfigException("pad_token_id", $"must be in [-vocab_size, vocab_size) = [{-VocabSize}, {VocabSize}), got {pad}");
        Probability(HiddenDropoutProb, "hidden_dropout_prob");
        Probability(AttentionProbsDropoutProb, "attention_probs_dropout_prob");
        Probability(PoolerDropout, "pooler_dropout");
        if (ClsDropout is { } cd) Probability(cd, "cls_dropout");
        if (!(InitializerRange >= 0)) throw new DebertaConfigException("initializer_range", $"must not be negative, got {InitializerRange}");
        if (!(LayerNormEps > 0)) throw new DebertaConfigException("layer_norm_eps", $"must be positive, got {LayerNormEps}");
        if (!Activations.IsKnown(HiddenAct))
            throw new DebertaConfigException("hidden_act", $"unknown activation '{HiddenAct}' (known: {string.Join(", ", Activations.Names)})");
        if (!Activations.IsKnown(PoolerHiddenAct))
            throw new DebertaConfigException("pooler_hidden_act", $"unknown activation '{PoolerHiddenAct}' (known: {string.Join(", ", Activations.Names)})");
        foreach (string t in PosAttTypes)
            if (t is not ("c2p" or "p2c" or "p2p"))
                throw new DebertaConfigException("pos_att_type", $"unknown entry '{t}' (known: c2p, p2c, p2p)");
        if (ProblemType is not (null or "regression" or "single_label_classification" or "multi_label_classification"))
            throw new DebertaConfigException("problem_type", $"unknown problem type '{ProblemType}'");
        // As Hugging Face's PreTrainedConfig: id2label keys are label ids (it converts them with int()), and single-label
        // classification needs at least two labels.
        foreach (string id in Id2Label?.Keys ?? [])
            if (!int.TryParse(id, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
                throw new DebertaConfigException("id2label", $"key '{id}' is not an integer label id");
        if (ProblemType == "single_label_classification" && NumLabels == 1)
            throw new DebertaConfigException("problem_type",
                "single_label_classification needs num_labels > 1 (use num_labels 2 for binary classification, or problem_type regression)");
    }

    // The size limits, then the estimated parameter count: the model constructors allocate every weight from these
    // sizes, so a config.json asking for terabytes is refused here, before any allocation.
    private void CheckLimits()
    {
        static void AtMost(long v, long max, string key, string limit)
        {
            if (v > max) throw new DebertaConfigException(key, $"{v} is more than the limit of {max} (DebertaConfig.{limit})");
        }
        AtMost(VocabSize, MaxVocabSize, "vocab_size", nameof(MaxVocabSize));
        AtMost(TypeVocabSize, MaxVocabSize, "type_vocab_size", nameof(MaxVocabSize));
        AtMost(HiddenSize, MaxHiddenSize, "hidden_size", nameof(MaxHiddenSize));
        if (EmbeddingSize is { } es) AtMost(es, MaxHiddenSize, "embedding_size", nameof(MaxHiddenSize));
        if (PoolerHiddenSize is { } ps) AtMost(ps, MaxHiddenSize, "pooler_hidden_size", nameof(MaxHiddenSize));
        AtMost(IntermediateSize, MaxIntermediateSize, "intermediate_size", nameof(MaxIntermediateSize));
        AtMost(NumHiddenLayers, MaxLayers, "num_hidden_layers", nameof(MaxLayers));
        AtMost(MaxPositionEmbeddings, MaxPositions, "max_position_embeddings", nameof(MaxPositions));
        AtMost(MaxRelativePositions, MaxPositions, "max_relative_positions", nameof(MaxPositions));
        if (Id2Label is { } labels) AtMost(labels.Count, MaxLabels, "id2label", nameof(MaxLabels));
        if (NumLabelsValue is { } nl) AtMost(nl, MaxLabels, "num_labels", nameof(MaxLabels));

        long h = HiddenSize, e = EffectiveEmbeddingSize, p = EffectivePoolerHiddenSize, heads = NumAttentionHeads;
        var parts = new (string Key, long Count)[]
        {
            // Word embeddings and the masked-LM decoder (untied or tied, the larger case).
            ("vocab_size", 2 * VocabSize * e),
            ("max_position_embeddings", (long)MaxPositionEmbeddings * e),
            ("type_vocab_size", TypeVocabSize * e),
            ("embedding_size", e != h ? e * h + h * e : 0),
            // Per layer: q/k/v and the attention output (4 h²), the feed-forward pair (2 h × intermediate), the relative
            // projections (2 h²) and talking heads (2 heads²).
            ("num_hidden_layers", NumHiddenLayers * (6 * h * h + 2 * h * IntermediateSize + (UseTalkingHead ? 2 * heads * heads : 0))),
            ("max_relative_positions", RelativeAttention ? 2L * EffectiveMaxRelativePositions * h : 0),
            ("pooler_hidden_size", p * h + p * h),
            ("num_labels", Math.Max(h, p) * NumLabels),
        };
        long total = parts.Sum(x => x.Count);
        if (total > MaxParameters)
        {
            var largest = parts.MaxBy(x => x.Count);
            throw new DebertaConfigException(largest.Key,
                $"the model would have about {total} parameters, more than the limit of {MaxParameters} (DebertaConfig.{nameof(MaxParameters)}); " +
                $"the largest part comes from {largest.Key} ({largest.Count})");
        }
    }

    /// <summary>The padding row of the word embeddings: <c>pad_token_id</c>, a negative one counted from the end (as
    /// <c>nn.Embedding</c>'s <c>padding_idx</c>); null when unset.</summary>
    [JsonIgnore] internal int? PaddingRow => PadTokenId is { } pad ? (pad < 0 ? pad + VocabSize : pad) : null;

    /// <summary>Whether talking-heads attention is on (<c>talking_head</c> true).</summary>
    [JsonIgnore] internal bool UseTalkingHead => TalkingHead == true;
}

/// <summary>A configuration value is invalid; <see cref="ArgumentException.ParamName"/> is the <c>config.json</c> key.</summary>
public sealed class DebertaConfigException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    public DebertaConfigException(string key, string message, Exception? inner = null)
        : this(key, message, null, inner) { }

    /// <summary>Creates the exception for <paramref name="key"/> of the file <paramref name="filePath"/> (null when not read from a file).</summary>
    public DebertaConfigException(string key, string message, string? filePath, Exception? inner = null)
        : base($"{filePath ?? "config.json"} '{key}': {message}", key, inner)
    {
        Key = key;
        Detail = message;
        FilePath = filePath;
    }

    /// <summary>The offending <c>config.json</c> key.</summary>
    public string Key { get; }

    /// <summary>The file the configuration came from, when known.</summary>
    public string? FilePath { get; }

    /// <summary>What is wrong with the value (the message without the file and key).</summary>
    public string Detail { get; }
}

/// <summary>
/// Reads JSON numbers as doubles and writes them as Python's <c>json.dumps</c> does (<c>0.0</c>, <c>1e-07</c>), so that
/// floats written back to config.json stay floats for Python (System.Text.Json would write <c>0</c> and <c>1E-07</c>).
/// </summary>
internal sealed class PythonFloatConverter : JsonConverter<double>
{
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return reader.GetDouble();
        if (reader.TokenType == JsonTokenType.String)
            switch (reader.GetString())
            {
                case "NaN": return double.NaN;
                case "Infinity": return double.PositiveInfinity;
                case "-Infinity": return double.NegativeInfinity;
            }
        throw new JsonException($"expected a number, got {reader.TokenType}");
    }

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (!double.IsFinite(value))
        {
            // Python writes bare NaN / Infinity, which is not JSON; keep System.Text.Json's named literals.
            writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
            return;
        }
        writer.WriteRawValue(Training.PythonJson.Float(value), skipInputValidation: false);   // Python's repr: 0.0, 1e-07
    }
}

/// <summary>
/// Reads <c>id2label</c> values that are not strings as Python's <c>str()</c> prints them: Hugging Face's run_glue and
/// run_ner write <c>{"0": 0, "1": 1}</c> for integer labels. Writes strings.
/// </summary>
internal sealed class LabelNamesConverter : JsonConverter<IReadOnlyDictionary<string, string>?>
{
    public override bool HandleNull => true;

    public override IReadOnlyDictionary<string, string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("id2label must be an object of id: label");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            map[key] = reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString()!,
                JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.ValueSpan),
                JsonTokenType.True => "True",
                JsonTokenType.False => "False",
                JsonTokenType.Null => "None",
                _ => throw new JsonException($"id2label['{key}'] must be a label name, not a {reader.TokenType}"),
            };
        }
        return map;
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, string>? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        writer.WriteStartObject();
        foreach (var (k, v) in value) writer.WriteString(k, v);
        writer.WriteEndObject();
    }
}

/// <summary><c>pos_att_type</c> entries that remember whether they were read from the <c>"c2p|p2c"</c> string form.</summary>
internal sealed class PosAttTypeList(IList<string> items, bool fromString) : ReadOnlyCollection<string>(items)
{
    public bool FromString { get; } = fromString;
}

/// <summary>Reads <c>pos_att_type</c> as a list or an <c>"a|b"</c> string; writes it back in the form it came in.</summary>
internal sealed class PosAttTypeConverter : JsonConverter<IReadOnlyList<string>?>
{
    public override bool HandleNull => true;

    public override IReadOnlyList<string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                string s = reader.GetString()!;
                var parts = s.ToLowerInvariant().Split('|').Select(x => x.Trim()).ToList();
                return new PosAttTypeList(parts, fromString: true);
            case JsonTokenType.StartArray:
                var list = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String) throw new JsonException("pos_att_type entries must be strings");
                    list.Add(reader.GetString()!);
                }
                return new PosAttTypeList(list, fromString: false);
            default:
                throw new JsonException("pos_att_type must be a list of strings or a 'c2p|p2c' string");
        }
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string>? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        if (value is PosAttTypeList { FromString: true }) { writer.WriteStringValue(string.Join("|", value)); return; }
        writer.WriteStartArray();
        foreach (string v in value) writer.WriteStringValue(v);
        writer.WriteEndArray();
    }
}

/// <summary>
/// Writes files atomically (a temporary file beside the target, then a rename over it), creating the folder; a thin
/// wrapper of <see cref="IO.SafeFile"/>, which also keeps links, devices, FIFOs and the replaced file's mode intact.
/// </summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        CreateFolderOf(path);
        IO.SafeFile.WriteAllText(path, text);
    }

    /// <summary><paramref name="writeTemp"/> writes a whole file at the path it gets (a temporary file, or the device itself).</summary>
    public static void Write(string path, Action<string> writeTemp)
    {
        CreateFolderOf(path);
        IO.SafeFile.WriteViaPath(path, writeTemp);
    }

    private static void CreateFolderOf(string path) => Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
}
