using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Serialization;

/// <summary>A state dict read from a checkpoint folder or file, with the files it came from.</summary>
/// <param name="StateDict">Key → CPU tensor as stored (names not yet mapped to a model; see <see cref="StateDictMapper"/>).</param>
/// <param name="Files">Full paths of the files read, in order (the index first for sharded checkpoints), for logging.</param>
internal sealed record LoadedCheckpoint(Dictionary<string, Tensor> StateDict, IReadOnlyList<string> Files) : IDisposable
{
    /// <summary>Disposes every tensor of the state dict.</summary>
    public void Dispose()
    {
        foreach (Tensor t in StateDict.Values)
        {
            t.Dispose();
        }
        StateDict.Clear();
    }
}

/// <summary>
/// Finds and loads the weights of a model folder the way Hugging Face's <c>from_pretrained</c> picks among them:
/// <c>model.safetensors</c>, then <c>model.safetensors.index.json</c> (sharded), then <c>pytorch_model.bin</c>, then
/// <c>pytorch_model.bin.index.json</c>.
/// </summary>
internal static class CheckpointFiles
{
    /// <summary>The largest shard index read: 64 MB. An index holds one short line per tensor (the largest public ones,
    /// for models of hundreds of billions of parameters, are about 1 MB); it is read whole before parsing.</summary>
    internal const long MaxIndexBytes = 64L << 20;

    /// <summary>Deepest JSON nesting accepted in a shard index (System.Text.Json's default, made explicit; an index nests two).</summary>
    internal const int MaxIndexJsonDepth = 64;

    /// <summary>Single-file safetensors weights.</summary>
    internal const string SafeTensorsName = "model.safetensors";

    /// <summary>Index of sharded safetensors weights.</summary>
    internal const string SafeTensorsIndexName = "model.safetensors.index.json";

    /// <summary>Single-file torch pickle weights.</summary>
    internal const string PytorchName = "pytorch_model.bin";

    /// <summary>Index of sharded torch pickle weights.</summary>
    internal const string PytorchIndexName = "pytorch_model.bin.index.json";

    /// <summary>The file names looked for, in order of preference.</summary>
    internal static IReadOnlyList<string> SearchOrder { get; } = [SafeTensorsName, SafeTensorsIndexName, PytorchName, PytorchIndexName];

    /// <summary>The weights file <see cref="Load"/> would read in <paramref name="directory"/>, or null when there is none.</summary>
    /// <param name="directory">A model folder.</param>
    internal static string? Find(string directory)
    {
        foreach (string name in SearchOrder)
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Loads the weights of a model folder (see <see cref="CheckpointFiles"/> for the order of preference).</summary>
    /// <param name="directory">The folder holding the checkpoint.</param>
    /// <returns>The state dict and the files read. Dispose it when the tensors are no longer needed.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">No weights file is present, or a shard named by the index is missing.</exception>
    /// <exception cref="CheckpointFormatException">A file is malformed.</exception>
    internal static LoadedCheckpoint Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Checkpoint folder '{directory}' does not exist.");
        }
        string file = Find(directory) ?? throw new FileNotFoundException(
            $"No model weights in '{Path.GetFullPath(directory)}': looked for {string.Join(", ", SearchOrder)}.",
            Path.Combine(directory, SafeTensorsName));
        return LoadFile(file);
    }

    /// <summary>
    /// Loads one weights file: <c>*.safetensors</c>, a shard index (<c>*.index.json</c>), or anything else as a
    /// <c>torch.save</c> pickle (<c>.bin</c>, <c>.pt</c>, <c>.pth</c>).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FileNotFoundException">The file, or a shard it names, does not exist.</exception>
    /// <exception cref="CheckpointFormatException">A file is malformed.</exception>
    internal static LoadedCheckpoint LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"Checkpoint file '{full}' does not exist.", full);
        }
        if (full.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
        {
            return LoadSharded(full);
        }
        Dictionary<string, Tensor> dict = IsSafeTensors(full) ? SafeTensors.Load(full) : TorchPickle.Load(full);
        return new LoadedCheckpoint(dict, [full]);
    }

    /// <summary>Reads a shard index: <c>weight_map</c> (key → shard file name), validated.</summary>
    /// <param name="indexPath">The <c>*.index.json</c> file.</param>
    /// <returns>Key → shard file name (a plain name in the index's folder), in the index's order.</returns>
    /// <exception cref="CheckpointFormatException">The index is malformed or names a file outside its folder.</exception>
    internal static IReadOnlyList<KeyValuePair<string, string>> ReadIndex(string indexPath)
    {
        long length = new FileInfo(indexPath).Length;
        if (length > MaxIndexBytes)
        {
            throw new CheckpointFormatException(indexPath, null, $"the index has {length} bytes, more than the limit of {MaxIndexBytes} (CheckpointFiles.MaxIndexBytes).");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath), new JsonDocumentOptions { MaxDepth = MaxIndexJsonDepth });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, null, $"the index is not valid JSON (nesting limit {MaxIndexJsonDepth}): " + e.Message, e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException(indexPath, null, "the index has no 'weight_map' object.");
            }
            var result = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    throw new CheckpointFormatException(indexPath, p.Name, "the weight_map entry is not a file name.");
                }
                string shard = p.Value.GetString()!;
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\') || shard.Contains('/'))
                {
                    throw new CheckpointFormatException(indexPath, p.Name, $"shard '{shard}' is not a plain file name in the index's folder.");
                }
                if (!seen.Add(p.Name))
                {
                    throw new CheckpointFormatException(indexPath, p.Name, "the key appears twice in weight_map.");
                }
                result.Add(new(p.Name, shard));
            }
            return result;
        }
    }

    private static bool IsSafeTensors(string path) =>
        path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    private static LoadedCheckpoint LoadSharded(string indexPath)
    {
        string folder = Path.GetDirectoryName(indexPath)!;
        var weightMap = ReadIndex(indexPath);
        var shards = weightMap.Select(kv => kv.Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        foreach (string shard in shards)
        {
            string shardPath = Path.Combine(folder, shard);
            if (!File.Exists(shardPath))
            {
                throw new FileNotFoundException(
                    $"Shard '{shard}' named by '{indexPath}' (for '{weightMap.First(kv => kv.Value == shard).Key}') does not exist.", shardPath);
            }
        }
        var files = new List<string> { indexPath };
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var origin = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (string shard in shards)
            {
                string shardPath = Path.Combine(folder, shard);
                Dictionary<string, Tensor> part = IsSafeTensors(shardPath) ? SafeTensors.Load(shardPath) : TorchPickle.Load(shardPath);
                files.Add(shardPath);
                foreach (var (key, tensor) in part)
                {
                    if (!dict.TryAdd(key, tensor))
                    {
                        // Those of this shard not yet owned by dict (the duplicate and the rest) are disposed here,
                        // the others with dict below.
                        foreach (var (k2, t2) in part)
                        {
                            if (!ReferenceEquals(dict.GetValueOrDefault(k2), t2))
                            {
                                t2.Dispose();
                            }
                        }
                        throw new CheckpointFormatException(shardPath, key, $"the key is also in shard '{origin[key]}'.");
                    }
                    origin[key] = shard;
                }
            }
            foreach (var (key, shard) in weightMap)
            {
                if (!origin.TryGetValue(key, out string? actual))
                {
                    throw new CheckpointFormatException(Path.Combine(folder, shard), key, $"the index '{indexPath}' places the key in this shard but no shard contains it.");
                }
                if (actual != shard)
                {
                    throw new CheckpointFormatException(Path.Combine(folder, actual), key, $"the index '{indexPath}' places the key in shard '{shard}' but it is in '{actual}'.");
                }
            }
        }
        catch
        {
            foreach (Tensor t in dict.Values)
            {
                t.Dispose();
            }
            throw;
        }
        return new LoadedCheckpoint(dict, files);
    }
}
