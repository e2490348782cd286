using StringBuilder = System.Text.StringBuilder;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Pipelines;

/// <summary>The result of the zero-shot pipeline for one sequence (Hugging Face's dict).</summary>
/// <param name="Sequence">The sequence classified.</param>
/// <param name="Labels">The candidate labels, best first.</param>
/// <param name="Scores">Their scores (float32 as numpy computes them), in the same order.</param>
public sealed record ZeroShotClassificationResult(string Sequence, IReadOnlyList<string> Labels, IReadOnlyList<float> Scores);

/// <summary>
/// Zero-shot classification with a natural-language-inference model (Hugging Face's
/// <c>zero-shot-classification</c> pipeline): each candidate label becomes a hypothesis
/// (<c>hypothesis_template.format(label)</c>) paired with the sequence as premise, and the entailment logits score
/// the labels: softmaxed across labels, or with <c>multi_label</c> (or a single label) each label's
/// [contradiction, entailment] softmax on its own. Thread-safe: calls share no mutable state.
/// </summary>
public sealed class ZeroShotClassificationPipeline : Pipeline
{
    /// <summary>Hugging Face's default hypothesis template.</summary>
    public const string DefaultHypothesisTemplate = "This example is {}.";

    private static readonly string[] s_known = ["candidate_labels", "hypothesis_template", "multi_label", "multi_class", "batch_size"];

    /// <summary>Creates the pipeline over an NLI sequence classifier and its tokenizer.</summary>
    /// <param name="model">A <see cref="DebertaForSequenceClassification"/>, ideally with an <c>entailment</c> label.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <exception cref="ArgumentException">The model has no sequence-classification head.</exception>
    public ZeroShotClassificationPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) : base(model, tokenizer)
    {
        if (model is not DebertaForSequenceClassification)
            throw new ArgumentException($"zero-shot-classification needs a DebertaForSequenceClassification model, got {model.GetType().Name}", nameof(model));
        EntailmentId = FindEntailmentId(model.Config);
        if (EntailmentId == -1)
            Warning = "Failed to determine 'entailment' label id from the label2id mapping in the model config. Setting to -1 "
                      + "(the last label is used as entailment). Define a descriptive label2id mapping in the model config to ensure correct outputs.";
    }

    /// <inheritdoc/>
    public override string Task => "zero-shot-classification";

    /// <summary>
    /// The id of the first label (in <c>label2id</c> order) whose lower-case name starts with <c>entail</c>; -1 when
    /// there is none, in which case, as in Hugging Face, index -1 (the last logit) is taken as entailment.
    /// </summary>
    public int EntailmentId { get; }

    /// <summary>Hugging Face's warning when no entailment label was found; null otherwise.</summary>
    public string? Warning { get; }

    /// <summary>Hugging Face's <c>entailment_id</c> for a configuration (-1 when no label name starts with <c>entail</c>).</summary>
    public static int FindEntailmentId(DebertaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        IEnumerable<KeyValuePair<string, int>> label2Id = config.Label2Id
            ?? config.Id2Label?.Select(kv => new KeyValuePair<string, int>(kv.Value, int.Parse(kv.Key, System.Globalization.CultureInfo.InvariantCulture)))
            ?? [];
        foreach (var (label, id) in label2Id)
            if (label.ToLowerInvariant().StartsWith("entail", StringComparison.Ordinal)) return id;
        return -1;
    }

    /// <summary>Scores <paramref name="candidateLabels"/> for <paramref name="sequence"/>.</summary>
    /// <param name="sequence">The text to classify.</param>
    /// <param name="candidateLabels">The labels (at least one).</param>
    /// <param name="hypothesisTemplate">The hypothesis, with <c>{}</c> where the label goes.</param>
    /// <param name="multiLabel">Score each label on its own (entailment vs contradiction) instead of softmaxing across labels.</param>
    /// <exception cref="ArgumentException">No label, an empty sequence, or a template without <c>{}</c>.</exception>
    public ZeroShotClassificationResult Classify(string sequence, IReadOnlyList<string> candidateLabels, string hypothesisTemplate = DefaultHypothesisTemplate, bool multiLabel = false) =>
        Classify([sequence], candidateLabels, hypothesisTemplate, multiLabel)[0];

    /// <summary>Scores <paramref name="candidateLabels"/> for each sequence; one result per sequence, in order.</summary>
    /// <exception cref="ArgumentException">No label, an empty sequence, or a template without <c>{}</c>.</exception>
    public IReadOnlyList<ZeroShotClassificationResult> Classify(IReadOnlyList<string> sequences, IReadOnlyList<string> candidateLabels,
        string hypothesisTemplate = DefaultHypothesisTemplate, bool multiLabel = false, int batchSize = 8)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(candidateLabels);
        ArgumentNullException.ThrowIfNull(hypothesisTemplate);
        if (batchSize < 1) throw new ArgumentException($"batch_size must be >= 1 (got {batchSize})", "batch_size");
        if (candidateLabels.Count == 0)
            throw new ArgumentException("You must include at least one label and at least one sequence (candidate_labels is empty).", "candidate_labels");
        foreach (var s in sequences)
            if (string.IsNullOrEmpty(s))
                throw new ArgumentException("You must include at least one label and at least one sequence (a sequence is empty).", "inputs");
        if (candidateLabels.Any(l => l is null)) throw new ArgumentException("a candidate label is null", "candidate_labels");
        if (Format(hypothesisTemplate, candidateLabels[0]) == hypothesisTemplate)
            throw new ArgumentException($"The provided hypothesis_template \"{hypothesisTemplate}\" was not able to be formatted with the target labels. "
                                        + "Make sure the passed template includes formatting syntax such as {} where the label should go.", "hypothesis_template");
        var hypotheses = candidateLabels.Select(l => Format(hypothesisTemplate, l)).ToArray();

        int n = candidateLabels.Count;
        var encodings = new List<Encoding>(sequences.Count * n);
        foreach (var s in sequences)
            foreach (var h in hypotheses) encodings.Add(EncodePair(s, h));
        var logits = RunModel(encodings, batchSize);

        int numLabels = logits.Length == 0 ? 0 : logits[0].Length;
        int Col(int id) => id < 0 ? numLabels + id : id;  // numpy's negative index
        int entail = Col(EntailmentId);
        int contra = Col(EntailmentId == 0 ? -1 : 0);
        if (entail < 0 || entail >= numLabels || contra < 0 || contra >= numLabels)
            throw new InvalidOperationException($"entailment id {EntailmentId} is out of range for a model with {numLabels} labels (see id2label/label2id in config.json)");

        var results = new ZeroShotClassificationResult[sequences.Count];
        for (int q = 0; q < sequences.Count; q++)
        {
            var scores = new float[n];
            if (multiLabel || n == 1)
            {
                for (int j = 0; j < n; j++)
                {
                    var row = logits[q * n + j];
                    float ec = MathF.Exp(row[contra]), ee = MathF.Exp(row[entail]);
                    scores[j] = ee / (ec + ee);
                }
            }
            else
            {
                var ex = new float[n];
                float sum = 0f;
                for (int j = 0; j < n; j++)
                {
                    ex[j] = MathF.Exp(logits[q * n + j][entail]);
                    sum += ex[j];
                }
                for (int j = 0; j < n; j++) scores[j] = ex[j] / sum;
            }
            // list(reversed(scores.argsort())): ascending (ties in index order), then reversed.
            var ascending = Enumerable.Range(0, n).OrderBy(j => scores[j]).ThenBy(j => j).ToArray();
            Array.Reverse(ascending);
            results[q] = new ZeroShotClassificationResult(sequences[q], [.. ascending.Select(j => candidateLabels[j])], [.. ascending.Select(j => scores[j])]);
        }
        return results;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// <paramref name="inputs"/>: a sequence, or an array of sequences (an array of values back). Parameters:
    /// <c>candidate_labels</c> (an array of strings or a comma-separated string; required), <c>hypothesis_template</c>,
    /// <c>multi_label</c> (<c>multi_class</c> is its deprecated name), <c>batch_size</c>.
    /// </remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        PipelineBatching.CheckKnown(parameters, s_known);
        var labels = ParseLabels(parameters);
        string template = PipelineBatching.GetString(parameters, "hypothesis_template") ?? DefaultHypothesisTemplate;
        bool multiLabel = PipelineBatching.GetBool(parameters, "multi_label") ?? PipelineBatching.GetBool(parameters, "multi_class") ?? false;
        int batchSize = PipelineBatching.GetInt(parameters, "batch_size") ?? 8;
        if (inputs is JsonArray array)
        {
            var seqs = array.Select((x, k) => PipelineBatching.AsString(x, $"inputs[{k}]")).ToList();
            var all = Classify(seqs, labels, template, multiLabel, batchSize);
            var result = new JsonArray();
            foreach (var r in all) result.Add(ToJson(r));
            return result;
        }
        return ToJson(Classify([PipelineBatching.AsString(inputs, "inputs")], labels, template, multiLabel, batchSize)[0]);
    }

    /// <summary>Hugging Face's dict: <c>sequence</c>, <c>labels</c>, <c>scores</c>.</summary>
    internal static JsonObject ToJson(ZeroShotClassificationResult r)
    {
        var labels = new JsonArray();
        foreach (var l in r.Labels) labels.Add(l);
        var scores = new JsonArray();
        foreach (var s in r.Scores) scores.Add(s);
        return new JsonObject { ["sequence"] = r.Sequence, ["labels"] = labels, ["scores"] = scores };
    }

    /// <summary>
    /// <c>candidate_labels</c> as Hugging Face's <c>_parse_labels</c>: a string is split on commas, each part stripped
    /// and empty parts dropped; an array is taken as it is.
    /// </summary>
    internal static IReadOnlyList<string> ParseLabels(JsonObject? parameters)
    {
        if (parameters is null || !parameters.TryGetPropertyValue("candidate_labels", out var node) || node is null)
            throw new ArgumentException("zero-shot-classification needs the parameter 'candidate_labels' (a list of labels or a comma-separated string)", "candidate_labels");
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return SplitLabels(v.GetValue<string>());
        if (node is JsonArray arr) return [.. arr.Select((x, k) => PipelineBatching.AsString(x, $"candidate_labels[{k}]"))];
        throw new ArgumentException($"parameter 'candidate_labels' must be a list of strings or a comma-separated string, got {node.ToJsonString()}", "candidate_labels");
    }

    /// <summary>Splits a comma-separated label string as Hugging Face does (strip each, drop empty ones).</summary>
    public static IReadOnlyList<string> SplitLabels(string labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return [.. labels.Split(',').Select(l => l.Trim()).Where(l => l.Length > 0)];
    }

    /// <summary>
    /// Python's <c>template.format(label)</c> for the forms a hypothesis template uses: <c>{}</c> and <c>{0}</c> are the
    /// label, <c>{{</c> and <c>}}</c> are braces; any other field is an error, as in Python.
    /// </summary>
    internal static string Format(string template, string label)
    {
        var sb = new StringBuilder(template.Length + label.Length);
        for (int i = 0; i < template.Length; i++)
        {
            char c = template[i];
            if (c == '{')
            {
                if (i + 1 < template.Length && template[i + 1] == '{') { sb.Append('{'); i++; continue; }
                int close = template.IndexOf('}', i + 1);
                if (close < 0) throw new ArgumentException($"hypothesis_template \"{template}\": single '{{' encountered in format string", "hypothesis_template");
                string field = template[(i + 1)..close];
                if (field is not ("" or "0"))
                    throw new ArgumentException($"hypothesis_template \"{template}\": unsupported replacement field {{{field}}} (use {{}})", "hypothesis_template");
                sb.Append(label);
                i = close;
            }
            else if (c == '}')
            {
                if (i + 1 < template.Length && template[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw new ArgumentException($"hypothesis_template \"{template}\": single '}}' encountered in format string", "hypothesis_template");
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// The premise/hypothesis pair as Hugging Face's <c>_parse_and_tokenize</c>: truncation <c>only_first</c> to the
    /// model's maximum length, and no truncation when the premise is too short to be truncated.
    /// </summary>
    private Encoding EncodePair(string sequence, string hypothesis)
    {
        try
        {
            return Tokenizer.EncodeBatch([(sequence, hypothesis)], new EncodeOptions { Truncation = TruncationStrategy.OnlyFirst })[0];
        }
        catch (ArgumentException)
        {
            return Tokenizer.EncodeBatch([(sequence, hypothesis)], new EncodeOptions { Truncation = TruncationStrategy.None })[0];
        }
    }

    /// <summary>The logits (float32) of each premise/hypothesis pair, forwarded in batches sorted by length.</summary>
    private float[][] RunModel(IReadOnlyList<Encoding> encodings, int batchSize) =>
        PipelineBatching.Run(Model, Tokenizer, encodings, batchSize,
            (output, r, _) => PipelineBatching.ToFloats(((SequenceClassifierOutput)output).Logits[r]));
}
