using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Serialization;

/// <summary>Which masked-LM head a checkpoint's weights are for.</summary>
internal enum MlmHeadLayout
{
    /// <summary>No MLM head weights.</summary>
    None,

    /// <summary><c>cls.predictions.{transform.dense, transform.LayerNorm, bias, decoder}</c>: config <c>legacy: true</c> (the default).</summary>
    Legacy,

    /// <summary><c>lm_predictions.lm_head.{dense, LayerNorm, bias}</c>: config <c>legacy: false</c> (microsoft/deberta-base's weights).</summary>
    NonLegacy,
}

/// <summary>A checkpoint tensor whose shape differs from the target parameter's.</summary>
/// <param name="Name">The target parameter name.</param>
/// <param name="FileKey">The key in the checkpoint.</param>
/// <param name="Expected">The target's shape.</param>
/// <param name="Actual">The checkpoint's shape.</param>
internal sealed record ShapeMismatch(string Name, string FileKey, long[] Expected, long[] Actual)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} (from '{FileKey}'): checkpoint has [{string.Join(", ", Actual)}], model expects [{string.Join(", ", Expected)}]";
}

/// <summary>How checkpoint keys map onto a model's parameter names (no tensors involved).</summary>
/// <param name="Renames">Checkpoint key → target name, for every key used (including those mapped unchanged).</param>
/// <param name="Missing">Target names that nothing in the checkpoint provides (tied weights excluded).</param>
/// <param name="Tied">Target names absent from the checkpoint that are tied to another parameter (see <see cref="StateDictMapper.TiedWeights"/>): not an error.</param>
/// <param name="Unexpected">Checkpoint keys the target has no use for (for a bare model, the head weights: harmless).</param>
/// <param name="Ignored">Checkpoint keys dropped on purpose (stray <c>position_ids</c> buffers, unused position embeddings).</param>
/// <param name="ShapeMismatches">Keys that match a target name but not its shape: an error for the caller to report.</param>
internal sealed record KeyMapping(
    IReadOnlyDictionary<string, string> Renames,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Tied,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Ignored,
    IReadOnlyList<ShapeMismatch> ShapeMismatches);

/// <summary>A state dict mapped onto a model's parameter names.</summary>
/// <param name="Mapped">Target name → tensor. The tensors are those of the loaded state dict (not copies): whoever owns
/// the loaded checkpoint still owns them.</param>
/// <param name="Keys">The key mapping, with the missing, tied, unexpected, ignored and mismatched names.</param>
internal sealed record MappedStateDict(Dictionary<string, Tensor> Mapped, KeyMapping Keys)
{
    /// <summary>Target names not found in the checkpoint (tied weights excluded).</summary>
    public IReadOnlyList<string> Missing => Keys.Missing;

    /// <summary>Checkpoint keys not used.</summary>
    public IReadOnlyList<string> Unexpected => Keys.Unexpected;

    /// <summary>Shape mismatches (an error).</summary>
    public IReadOnlyList<ShapeMismatch> ShapeMismatches => Keys.ShapeMismatches;

    /// <summary>Tied target names absent from the checkpoint (to be tied by the model, not an error).</summary>
    public IReadOnlyList<string> Tied => Keys.Tied;
}

/// <summary>
/// Maps checkpoint keys to DeBERTa parameter names as Hugging Face's <c>from_pretrained</c> does, and back for saving
/// as <c>save_pretrained</c> does. Rules: the <c>deberta.</c> prefix is added or removed when a bare
/// <c>DebertaModel</c> checkpoint meets a head model or the reverse; legacy LayerNorm names <c>gamma</c>/<c>beta</c>
/// become <c>weight</c>/<c>bias</c>; stray <c>position_ids</c> buffers and position embeddings the model does not have
/// are dropped; tied MLM decoder weights absent from the file are reported as tied, not missing.
/// </summary>
internal static class StateDictMapper
{
    /// <summary>The prefix of the base model's parameters inside a head model.</summary>
    internal const string BasePrefix = "deberta.";

    private const string PositionEmbeddings = "embeddings.position_embeddings.weight";

    /// <summary>
    /// Parameters that Hugging Face ties to another one (and <c>save_pretrained</c> leaves out of the file):
    /// tied name → the name it shares its tensor with, for a head model.
    /// </summary>
    internal static IReadOnlyDictionary<string, string> TiedWeights { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["cls.predictions.decoder.weight"] = "deberta.embeddings.word_embeddings.weight",
        ["cls.predictions.decoder.bias"] = "cls.predictions.bias",
        ["lm_predictions.lm_head.weight"] = "deberta.embeddings.word_embeddings.weight",
    };

    /// <summary>Whether a tie is to the word embeddings (and so only holds with <c>tie_word_embeddings</c>).</summary>
    private static bool TiedToEmbeddings(string tiedName) => TiedWeights[tiedName].EndsWith("word_embeddings.weight", StringComparison.Ordinal);

    /// <summary>Tells which MLM head layout a checkpoint's keys carry, so the model can build the head that uses them
    /// even when config.json leaves <c>legacy</c> at its default (transformers issues #15216, #22790).</summary>
    /// <param name="keys">The checkpoint's keys.</param>
    /// <returns>The layout with more keys present; <see cref="MlmHeadLayout.Legacy"/> on a tie of a non-zero count.</returns>
    internal static MlmHeadLayout DetectMlmHead(IEnumerable<string> keys)
    {
        int legacy = 0, nonLegacy = 0;
        foreach (string k in keys)
        {
            if (k.StartsWith("cls.predictions.", StringComparison.Ordinal))
            {
                legacy++;
            }
            else if (k.StartsWith("lm_predictions.lm_head.", StringComparison.Ordinal))
            {
                nonLegacy++;
            }
        }
        return legacy == 0 && nonLegacy == 0 ? MlmHeadLayout.None : nonLegacy > legacy ? MlmHeadLayout.NonLegacy : MlmHeadLayout.Legacy;
    }

    /// <summary>Maps a loaded state dict onto a model's parameters.</summary>
    /// <param name="stateDict">The checkpoint's tensors (as loaded).</param>
    /// <param name="expected">The target model's parameter names and shapes (e.g. from <c>state_dict_keys.json</c>).</param>
    /// <param name="targetIsHeadModel">True for a model with a head (parameters under <c>deberta.</c>), false for a bare <c>DebertaModel</c>.</param>
    internal static MappedStateDict Map(IReadOnlyDictionary<string, Tensor> stateDict, IReadOnlyDictionary<string, long[]> expected, bool targetIsHeadModel)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var shapes = stateDict.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
        KeyMapping keys = MapKeys(shapes, expected, targetIsHeadModel);
        var mapped = new Dictionary<string, Tensor>(keys.Renames.Count, StringComparer.Ordinal);
        foreach (var (fileKey, name) in keys.Renames)
        {
            mapped.Add(name, stateDict[fileKey]);
        }
        return new MappedStateDict(mapped, keys);
    }

    /// <summary>Maps checkpoint keys (with shapes) onto a model's parameters; see <see cref="StateDictMapper"/> for the rules.</summary>
    /// <param name="fileShapes">Checkpoint key → shape, in file order.</param>
    /// <param name="expected">The target model's parameter names and shapes.</param>
    /// <param name="targetIsHeadModel">True for a model with a head (parameters under <c>deberta.</c>), false for a bare <c>DebertaModel</c>.</param>
    internal static KeyMapping MapKeys(IReadOnlyDictionary<string, long[]> fileShapes, IReadOnlyDictionary<string, long[]> expected, bool targetIsHeadModel)
    {
        ArgumentNullException.ThrowIfNull(fileShapes);
        ArgumentNullException.ThrowIfNull(expected);
        bool fileHasPrefix = fileShapes.Keys.Any(k => k.StartsWith(BasePrefix, StringComparison.Ordinal));

        // Candidate target name for each file key.
        var candidates = new List<(string FileKey, string Target, bool Renamed)>();
        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (string fileKey in fileShapes.Keys)
        {
            string name = FixLegacyName(fileKey);
            if (targetIsHeadModel)
            {
                // A bare checkpoint's base keys go under deberta.; its other keys (none, normally) are taken as they are.
                if (!fileHasPrefix && expected.ContainsKey(BasePrefix + name) && !expected.ContainsKey(name))
                {
                    name = BasePrefix + name;
                }
            }
            else if (fileHasPrefix)
            {
                // A head checkpoint into a bare model: strip deberta.; head keys stay and end up unexpected.
                if (name.StartsWith(BasePrefix, StringComparison.Ordinal))
                {
                    name = name[BasePrefix.Length..];
                }
            }
            if (!expected.ContainsKey(name) && IsDroppable(name, expected, targetIsHeadModel))
            {
                ignored.Add(fileKey);
                continue;
            }
            candidates.Add((fileKey, name, name != fileKey));
        }

        // Keys used unchanged win over renamed ones aiming at the same target (e.g. both 'x.weight' and 'x.gamma').
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var mismatches = new List<ShapeMismatch>();
        var seenMismatch = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in candidates.OrderBy(c => c.Renamed ? 1 : 0))
        {
            if (!expected.TryGetValue(c.Target, out long[]? shape) || taken.Contains(c.Target) || seenMismatch.Contains(c.Target))
            {
                unexpected.Add(c.FileKey);
                continue;
            }
            long[] actual = fileShapes[c.FileKey];
            if (!shape.AsSpan().SequenceEqual(actual))
            {
                mismatches.Add(new ShapeMismatch(c.Target, c.FileKey, shape, actual));
                seenMismatch.Add(c.Target);
                continue;
            }
            taken.Add(c.Target);
            renames.Add(c.FileKey, c.Target);
        }
        // Restore file order for the renames and the unexpected keys.
        var order = fileShapes.Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i, StringComparer.Ordinal);
        var orderedRenames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in renames.OrderBy(kv => order[kv.Key]))
        {
            orderedRenames.Add(kv.Key, kv.Value);
        }
        unexpected.Sort((a, b) => order[a].CompareTo(order[b]));

        var missing = new List<string>();
        var tied = new List<string>();
        foreach (string name in expected.Keys)
        {
            if (taken.Contains(name) || seenMismatch.Contains(name))
            {
                continue;
            }
            (targetIsHeadModel && TiedWeights.ContainsKey(name) ? tied : missing).Add(name);
        }
        return new KeyMapping(orderedRenames, missing, tied, unexpected, ignored, mismatches);
    }

    /// <summary>
    /// The names to write for a model's state dict so that the file matches what <c>save_pretrained</c> writes: the
    /// names unchanged, minus the tied weights that share their tensor with another parameter being written, and
    /// minus <c>position_ids</c> buffers (non-persistent in Hugging Face).
    /// </summary>
    /// <param name="parameterNames">The model's parameter (and persistent buffer) names, Hugging Face style.</param>
    /// <param name="tieWordEmbeddings">config <c>tie_word_embeddings</c>: when false, the decoder weight is a parameter of its own and is written.</param>
    /// <returns>The names to write, in the given order.</returns>
    internal static IReadOnlyList<string> NamesToSave(IEnumerable<string> parameterNames, bool tieWordEmbeddings = true)
    {
        var names = parameterNames.ToList();
        var present = new HashSet<string>(names, StringComparer.Ordinal);
        bool isHead = names.Any(n => n.StartsWith(BasePrefix, StringComparison.Ordinal));
        var result = new List<string>(names.Count);
        foreach (string name in names)
        {
            if (IsPositionIds(name))
            {
                continue;
            }
            if (isHead && TiedWeights.TryGetValue(name, out string? source) && present.Contains(source)
                && (tieWordEmbeddings || !TiedToEmbeddings(name)))
            {
                continue;
            }
            result.Add(name);
        }
        return result;
    }

    /// <summary>
    /// The state dict to write for a model (see <see cref="NamesToSave"/>): the tensors themselves, not copies.
    /// </summary>
    /// <param name="stateDict">The model's named parameters and buffers.</param>
    /// <param name="tieWordEmbeddings">config <c>tie_word_embeddings</c>.</param>
    internal static List<KeyValuePair<string, Tensor>> ToSave(IEnumerable<KeyValuePair<string, Tensor>> stateDict, bool tieWordEmbeddings = true)
    {
        var list = stateDict.ToList();
        var keep = new HashSet<string>(NamesToSave(list.Select(kv => kv.Key), tieWordEmbeddings), StringComparer.Ordinal);
        return list.Where(kv => keep.Contains(kv.Key)).ToList();
    }

    /// <summary>Reads a <c>state_dict_keys.json</c>-style file: an object of name → shape array.</summary>
    /// <param name="path">The JSON file.</param>
    /// <exception cref="CheckpointFormatException">The file is not such an object.</exception>
    internal static Dictionary<string, long[]> ReadShapes(string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                result[p.Name] = p.Value.EnumerateArray().Select(e => e.GetInt64()).ToArray();
            }
            return result;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new CheckpointFormatException(path, null, "expected a JSON object of name → shape arrays: " + e.Message, e);
        }
    }

    /// <summary>Name → shape of a safetensors file, from its header (no tensor data read).</summary>
    /// <param name="path">The <c>.safetensors</c> file.</param>
    internal static Dictionary<string, long[]> ReadShapesFromSafeTensors(string path) =>
        SafeTensors.ReadHeader(path).Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);

    // LayerNorm parameters of old checkpoints: gamma → weight, beta → bias (last path component only).
    private static string FixLegacyName(string key)
    {
        if (key.EndsWith(".gamma", StringComparison.Ordinal))
        {
            return key[..^"gamma".Length] + "weight";
        }
        if (key.EndsWith(".beta", StringComparison.Ordinal))
        {
            return key[..^"beta".Length] + "bias";
        }
        return key;
    }

    private static bool IsPositionIds(string name) =>
        name == "position_ids" || name.EndsWith(".position_ids", StringComparison.Ordinal);

    // Keys dropped when the target lacks them: position_ids buffers, and position embeddings of a model without
    // absolute positions (microsoft/deberta-base's file has them although position_biased_input is false).
    private static bool IsDroppable(string name, IReadOnlyDictionary<string, long[]> expected, bool targetIsHeadModel)
    {
        if (IsPositionIds(name))
        {
            return true;
        }
        string positions = targetIsHeadModel ? BasePrefix + PositionEmbeddings : PositionEmbeddings;
        return StripPrefix(name) == PositionEmbeddings && !expected.ContainsKey(positions);
    }

    private static string StripPrefix(string name) =>
        name.StartsWith(BasePrefix, StringComparison.Ordinal) ? name[BasePrefix.Length..] : name;
}
