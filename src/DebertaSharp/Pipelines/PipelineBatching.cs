using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Pipelines;

/// <summary>
/// What the task pipelines share: batched forward passes (inputs sorted by length, padded per batch, results in input
/// order), token-string decoding and parameter parsing. Stateless, so safe for concurrent callers.
/// </summary>
internal static class PipelineBatching
{
    /// <summary>Default number of inputs per forward pass.</summary>
    public const int DefaultBatchSize = 8;

    /// <summary>
    /// Runs <paramref name="model"/> over <paramref name="encodings"/> in batches of at most <paramref name="batchSize"/>
    /// (sorted by length, right-padded to the longest of each batch) under <c>no_grad</c> and a dispose scope, and calls
    /// <paramref name="perRow"/> for each input with the batch's output and the input's row; results come back in input order.
    /// </summary>
    public static T[] Run<T>(DebertaPreTrainedModel model, DebertaTokenizerBase tokenizer, IReadOnlyList<Encoding> encodings,
        int batchSize, Func<ModelOutput, int, Encoding, T> perRow, bool outputHiddenStates = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1, nameof(batchSize));
        var results = new T[encodings.Count];
        if (encodings.Count == 0) return results;
        int[] order = [.. Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length)];   // stable
        int padId = tokenizer.PadTokenId, padType = tokenizer.PadTokenTypeId;
        var device = model.parameters().FirstOrDefault()?.device ?? torch.CPU;
        for (int b0 = 0; b0 < order.Length; b0 += batchSize)
        {
            int n = Math.Min(batchSize, order.Length - b0);
            int len = Math.Max(1, Enumerable.Range(b0, n).Max(k => encodings[order[k]].Length));
            var ids = new long[n * len];
            var mask = new long[n * len];
            var types = new long[n * len];
            for (int r = 0; r < n; r++)
            {
                var e = encodings[order[b0 + r]];
                for (int j = 0; j < len; j++)
                {
                    bool real = j < e.Length;
                    ids[r * len + j] = real ? e.Ids[j] : padId;
                    mask[r * len + j] = real ? e.AttentionMask[j] : 0;
                    types[r * len + j] = real ? e.TypeIds[j] : padType;
                }
            }
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var inputs = new DebertaInputs
            {
                InputIds = torch.tensor(ids, [n, len], device: device),
                AttentionMask = torch.tensor(mask, [n, len], device: device),
                TokenTypeIds = model.Config.TypeVocabSize > 0 ? torch.tensor(types, [n, len], device: device) : null,
                OutputHiddenStates = outputHiddenStates,
            };
            var output = model.Forward(inputs);
            for (int r = 0; r < n; r++)
                results[order[b0 + r]] = perRow(output, r, encodings[order[b0 + r]]);
        }
        return results;
    }

    /// <summary>A float tensor as a float32 array on the CPU.</summary>
    public static float[] ToFloats(Tensor t) => t.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();

    /// <summary>Softmax of one row of logits, computed in double and returned as fp32 values.</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        var exp = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += exp[i] = Math.Exp(logits[i] - max);
        var result = new float[logits.Length];
        for (int i = 0; i < logits.Length; i++) result[i] = (float)(exp[i] / sum);
        return result;
    }

    /// <summary>Hugging Face's <c>convert_tokens_to_string</c> for a fast byte-level tokenizer (the decoder on token strings).</summary>
    public static string TokensToString(DebertaTokenizerBase tokenizer, IEnumerable<string> tokens)
    {
        if (!tokenizer.Core.ByteLevelDecoder) return string.Join(" ", tokens);
        var bytes = new List<byte>();
        foreach (var t in tokens)
            if (!ByteLevel.TryAppendBytes(t, bytes)) bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(t));
        return new System.Text.UTF8Encoding(false, false).GetString(bytes.ToArray());
    }

    /// <summary>The label of class <paramref name="id"/> (<c>id2label</c>, else <c>LABEL_i</c>).</summary>
    public static string Label(DebertaConfig config, int id) =>
        config.Id2Label?.GetValueOrDefault(id.ToString(CultureInfo.InvariantCulture)) ?? $"LABEL_{id}";

    /// <summary>Fails on a parameter name not in <paramref name="known"/> (the message names it).</summary>
    public static void CheckKnown(JsonObject? parameters, params string[] known)
    {
        if (parameters is null) return;
        foreach (var (name, _) in parameters)
            if (Array.IndexOf(known, name) < 0)
                throw new ArgumentException($"unknown parameter \"{name}\" (known: {string.Join(", ", known)})", name);
    }

    /// <summary>An integer parameter (a JSON number with an integral value); null when absent or null.</summary>
    public static int? GetInt(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            if (v.TryGetValue<int>(out int i)) return i;
            if (v.TryGetValue<long>(out long l) && l is >= int.MinValue and <= int.MaxValue) return (int)l;
            if (v.TryGetValue<double>(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
        }
        throw new ArgumentException($"parameter \"{name}\" must be an integer, got {node.ToJsonString()}", name);
    }

    /// <summary>An integer parameter; <paramref name="fallback"/> when absent or null; below <paramref name="min"/> fails.</summary>
    public static int GetInt(JsonObject? parameters, string name, int fallback, int min = int.MinValue)
    {
        int v = GetInt(parameters, name) ?? fallback;
        if (v < min) throw new ArgumentException($"parameter \"{name}\" must be at least {min}", name);
        return v;
    }

    /// <summary>A string parameter; null when absent or null.</summary>
    public static string? GetString(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        return AsString(node, $"parameter \"{name}\"", name);
    }

    /// <summary>A boolean parameter; null when absent or null.</summary>
    public static bool? GetBool(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new ArgumentException($"parameter \"{name}\" must be true or false, got {node.ToJsonString()}", name);
    }

    /// <summary>A boolean parameter; <paramref name="fallback"/> when absent or null.</summary>
    public static bool GetBool(JsonObject? parameters, string name, bool fallback) => GetBool(parameters, name) ?? fallback;

    /// <summary>The string value of <paramref name="node"/>, failing with a message naming <paramref name="what"/> (the
    /// exception's parameter name <paramref name="field"/>, else <paramref name="what"/>).</summary>
    public static string AsString(JsonNode? node, string what, string? field = null)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new ArgumentException($"{what} must be a string, got {(node is null ? "null" : node.ToJsonString())}", field ?? what);
    }

    /// <summary>A string or list-of-strings parameter (<c>"a,b"</c> is not split); null when absent or null.</summary>
    public static IReadOnlyList<string>? GetStringList(JsonObject? parameters, string name)
    {
        if (parameters is null || !parameters.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue<string>(out var s)) return [s];
        if (node is JsonArray a)
        {
            var list = new List<string>();
            foreach (var item in a)
                list.Add(item is JsonValue iv && iv.TryGetValue<string>(out var str) ? str
                    : throw new ArgumentException($"parameter \"{name}\" must be a string or a list of strings", name));
            return list;
        }
        throw new ArgumentException($"parameter \"{name}\" must be a string or a list of strings", name);
    }

    /// <summary>
    /// The inputs of <see cref="Pipeline.Run"/>: one item (<paramref name="isBatch"/> false) or the items of an array,
    /// each converted by <paramref name="convert"/>.
    /// </summary>
    public static List<T> GetInputs<T>(JsonNode inputs, Func<JsonNode?, T> convert, out bool isBatch)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs is JsonArray a)
        {
            isBatch = true;
            var items = new List<T>(a.Count);
            for (int i = 0; i < a.Count; i++)
            {
                try
                {
                    items.Add(convert(a[i]));
                }
                catch (ArgumentException e) when (e.ParamName == "inputs")
                {
                    // Which item of the list is wrong.
                    throw new ArgumentException($"inputs[{i}]: {e.Message.Replace(" (Parameter 'inputs')", "", StringComparison.Ordinal)}", "inputs", e);
                }
            }
            return items;
        }
        isBatch = false;
        return [convert(inputs)];
    }

    /// <summary>A string input, or an error naming <c>inputs</c>.</summary>
    public static string AsText(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) ? s
            : throw new ArgumentException("inputs must be a string or a list of strings", "inputs");

    /// <summary>One value for one input, the array of values for a batch.</summary>
    public static JsonNode? Shape(IReadOnlyList<JsonNode?> values, bool isBatch) =>
        isBatch ? new JsonArray([.. values]) : values[0];
}
