using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Pipelines;

/// <summary>The function applied to the classifier's logits (Hugging Face's <c>function_to_apply</c>).</summary>
public enum ClassificationFunction
{
    /// <summary>Softmax over the labels.</summary>
    Softmax,
    /// <summary>Sigmoid of each logit.</summary>
    Sigmoid,
    /// <summary>The raw logits.</summary>
    None,
}

/// <summary>One input of text classification: a text, or a pair of texts (Hugging Face's <c>{"text", "text_pair"}</c>).</summary>
/// <param name="Text">The text.</param>
/// <param name="TextPair">The second text of a pair, or null.</param>
public sealed record TextClassificationInput(string Text, string? TextPair = null);

/// <summary>A label and its score (an entry of Hugging Face's text-classification output).</summary>
/// <param name="Label">The label name (<c>id2label</c>, else <c>LABEL_i</c>).</param>
/// <param name="Score">Its score after the function (fp32).</param>
public sealed record ClassificationScore(string Label, float Score);

/// <summary>
/// Hugging Face's <c>text-classification</c> pipeline (transformers 4.x semantics of <c>top_k</c>): each input gives a
/// list of labels and scores, best first: by default only the best label, with <c>top_k</c> null every label.
/// </summary>
public sealed class TextClassificationPipeline : Pipeline
{
    /// <summary>Creates the pipeline over a sequence-classification model and its tokenizer.</summary>
    /// <param name="model">A <see cref="DebertaHead.SequenceClassification"/> model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <exception cref="ArgumentException">The model is not a sequence classifier.</exception>
    public TextClassificationPipeline(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer) : base(model, tokenizer)
    {
        if (model.Head != DebertaHead.SequenceClassification)
            throw new ArgumentException($"text-classification needs a sequence-classification model, not {model.Head}", nameof(model));
    }

    /// <inheritdoc/>
    public override string Task => "text-classification";

    /// <summary>
    /// Hugging Face's default function: none for <c>regression</c>, sigmoid for <c>multi_label_classification</c> or a
    /// single label, else softmax (text_classification.py's <c>postprocess</c>).
    /// </summary>
    public ClassificationFunction DefaultFunction =>
        Model.Config.ProblemType == "regression" ? ClassificationFunction.None
        : Model.Config.ProblemType == "multi_label_classification" || Model.Config.NumLabels == 1
            ? ClassificationFunction.Sigmoid
            : ClassificationFunction.Softmax;

    /// <summary>The labels of <paramref name="text"/> (or of the pair), best first.</summary>
    /// <param name="text">The text.</param>
    /// <param name="textPair">The second text of a pair, or null.</param>
    /// <param name="topK">How many labels (default 1: the best); null for every label.</param>
    /// <param name="function">The function on the logits; null for <see cref="DefaultFunction"/>.</param>
    public IReadOnlyList<ClassificationScore> Classify(string text, string? textPair = null, int? topK = 1, ClassificationFunction? function = null) =>
        ClassifyBatch([new TextClassificationInput(text, textPair)], topK, function)[0];

    /// <summary><see cref="Classify"/> for a batch, run in batches of <paramref name="batchSize"/>; results in input order.</summary>
    /// <param name="inputs">The texts or pairs.</param>
    /// <param name="topK">How many labels per input; null for every label.</param>
    /// <param name="function">The function on the logits; null for <see cref="DefaultFunction"/>.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    public IReadOnlyList<IReadOnlyList<ClassificationScore>> ClassifyBatch(IReadOnlyList<TextClassificationInput> inputs, int? topK = 1,
        ClassificationFunction? function = null, int batchSize = PipelineBatching.DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (topK is < 1) throw new ArgumentOutOfRangeException(nameof(topK), topK, "top_k must be at least 1");
        var fn = function ?? DefaultFunction;
        var encodings = inputs.Select(i =>
        {
            ArgumentNullException.ThrowIfNull(i, nameof(inputs));
            ArgumentNullException.ThrowIfNull(i.Text, nameof(inputs));
            return Tokenizer.Encode(i.Text, i.TextPair);
        }).ToArray();
        var logits = PipelineBatching.Run(Model, Tokenizer, encodings, batchSize,
            (output, row, _) => PipelineBatching.ToFloats(((SequenceClassifierOutput)output).Logits[row]));
        return [.. logits.Select(l => Scores(l, fn, topK))];
    }

    private List<ClassificationScore> Scores(float[] logits, ClassificationFunction fn, int? topK)
    {
        float[] scores = fn switch
        {
            ClassificationFunction.Softmax => PipelineBatching.Softmax(logits),
            ClassificationFunction.Sigmoid => [.. logits.Select(x => (float)(1.0 / (1.0 + Math.Exp(-x))))],
            _ => logits,
        };
        var list = scores.Select((s, i) => new ClassificationScore(PipelineBatching.Label(Model.Config, i), s))
            .OrderByDescending(s => s.Score).ToList();                                                         // stable
        return topK is int k ? list.Take(k).ToList() : list;
    }

    /// <inheritdoc/>
    /// <remarks>Inputs: strings or <c>{"text", "text_pair"}</c> objects. Parameters: <c>top_k</c> (absent: the best
    /// label; an integer; null or <c>"all"</c>: every label), <c>function_to_apply</c> (<c>softmax</c>, <c>sigmoid</c>,
    /// <c>none</c>), <c>batch_size</c>.</remarks>
    public override JsonNode? Run(JsonNode inputs, JsonObject? parameters = null)
    {
        PipelineBatching.CheckKnown(parameters, "top_k", "function_to_apply", "batch_size");
        var items = PipelineBatching.GetInputs(inputs, AsInput, out bool isBatch);
        int? topK = 1;
        if (parameters is not null && parameters.TryGetPropertyValue("top_k", out var node))
        {
            if (node is null || (node is JsonValue v && v.TryGetValue<string>(out var s) && s == "all")) topK = null;
            else topK = PipelineBatching.GetInt(parameters, "top_k", 1, 1);
        }
        ClassificationFunction? fn = PipelineBatching.GetString(parameters, "function_to_apply")?.ToLowerInvariant() switch
        {
            null => null,
            "softmax" => ClassificationFunction.Softmax,
            "sigmoid" => ClassificationFunction.Sigmoid,
            "none" => ClassificationFunction.None,
            var other => throw new ArgumentException($"parameter \"function_to_apply\" must be softmax, sigmoid or none, not \"{other}\"", "function_to_apply"),
        };
        int batchSize = PipelineBatching.GetInt(parameters, "batch_size", PipelineBatching.DefaultBatchSize, 1);
        var results = ClassifyBatch(items, topK, fn, batchSize);
        // __call__ without top_k (the legacy default): postprocess gives the best label's dict, which a string input
        // gets wrapped in a list and a {"text", "text_pair"} input gets as it is.
        bool legacy = parameters is null || !parameters.ContainsKey("top_k");
        var nodes = inputs is JsonArray array ? [.. array] : new List<JsonNode?> { inputs };
        var values = results.Select((r, i) =>
        {
            var list = new JsonArray([.. r.Select(s => (JsonNode)new JsonObject { ["label"] = s.Label, ["score"] = s.Score })]);
            return legacy && nodes[i] is JsonObject ? list[0]!.DeepClone() : (JsonNode?)list;
        }).ToList();
        return PipelineBatching.Shape(values, isBatch);
    }

    private static TextClassificationInput AsInput(JsonNode? node)
    {
        if (node is JsonValue v && v.TryGetValue<string>(out var s)) return new TextClassificationInput(s);
        if (node is JsonObject o)
        {
            foreach (var (key, _) in o)
                if (key is not ("text" or "text_pair"))
                    throw new ArgumentException($"unknown input field \"{key}\" (known: text, text_pair)", "inputs");
            string text = o["text"] is JsonValue tv && tv.TryGetValue<string>(out var t) ? t
                : throw new ArgumentException("inputs.text must be a string", "inputs");
            string? pair = o["text_pair"] switch
            {
                null => null,
                JsonValue pv when pv.TryGetValue<string>(out var p) => p,
                _ => throw new ArgumentException("inputs.text_pair must be a string", "inputs"),
            };
            return new TextClassificationInput(text, pair);
        }
        throw new ArgumentException("inputs must be a string, a {\"text\", \"text_pair\"} object, or a list of them", "inputs");
    }
}
