using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>
/// <c>tf_model.h5</c> as a PyTorch state dict (transformers 4.x's <c>load_tf2_weights_in_pytorch_model</c>): every
/// Keras weight renamed by <see cref="KerasNames.ToPt(string)"/>, Dense kernels transposed. The file is checked against
/// the Keras layout of the configuration first, so a wrong shape or a checkpoint of another family is an error naming
/// the file and the weight.
/// </summary>
internal static class TFCheckpoint
{
    /// <summary>transformers' TF2_WEIGHTS_NAME.</summary>
    internal const string FileName = "tf_model.h5";

    /// <summary>The PyTorch weights of <paramref name="dir"/>; a folder with only tf_model.h5 is an error that says what to do.</summary>
    internal static LoadedCheckpoint LoadPyTorchOrExplain(string dir)
    {
        if (Directory.Exists(dir) && CheckpointFiles.Find(dir) is null && File.Exists(Path.Combine(dir, FileName)))
            throw new FileNotFoundException(
                $"'{Path.GetFullPath(dir)}' holds TensorFlow weights only ({FileName}): load them with " +
                "PretrainedLoadOptions { FromTf = true }, a TFDeberta* class, or convert them with 'deberta convert --to pt'.",
                Path.Combine(dir, CheckpointFiles.SafeTensorsName));
        return CheckpointFiles.Load(dir);
    }

    /// <summary>Reads <c>dir/tf_model.h5</c> for a model of <paramref name="head"/> as PyTorch names and layouts.</summary>
    /// <exception cref="FileNotFoundException">No tf_model.h5.</exception>
    /// <exception cref="CheckpointFormatException">The file is malformed, of another family, or a weight has the wrong shape.</exception>
    internal static LoadedCheckpoint LoadAsStateDict(string dir, DebertaConfig config, DebertaHead head)
    {
        string path = Path.GetFullPath(Path.Combine(dir, FileName));
        if (!File.Exists(path)) throw new FileNotFoundException($"No {FileName} in '{Path.GetFullPath(dir)}'.", path);
        using var weights = KerasH5.Read(path);
        return ToStateDict(weights, config, head);
    }

    /// <summary>Checks <paramref name="weights"/> against the Keras layout and converts them to PyTorch names.</summary>
    internal static LoadedCheckpoint ToStateDict(KerasWeights weights, DebertaConfig config, DebertaHead head)
    {
        CheckFamily(weights);
        // Shapes are checked against every head's layout: a base checkpoint in a classifier is fine, a wrong shape is not.
        var known = new Dictionary<string, KerasVariable>(StringComparer.Ordinal);
        foreach (DebertaHead h in Enum.GetValues<DebertaHead>())
            foreach (var v in KerasLayout.Variables(config, h))
                known.TryAdd(v.Name, v);
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, t) in weights.Tensors)
            {
                if (known.TryGetValue(name, out var v) && !t.shape.SequenceEqual(v.Shape))
                    throw new CheckpointFormatException(weights.Path, weights.SavedNames[name],
                        $"shape [{string.Join(", ", t.shape)}] but {KerasLayout.ClassName(head)} with this config.json expects [{string.Join(", ", v.Shape)}]");
                var (ptName, transpose) = KerasNames.ToPt(name);
                if (dict.ContainsKey(ptName)) continue;
                dict[ptName] = transpose && t.dim() == 2 ? t.t().contiguous() : t.alias();
            }
        }
        catch
        {
            foreach (var t in dict.Values) t.Dispose();
            throw;
        }
        return new LoadedCheckpoint(dict, [weights.Path]);
    }

    /// <summary>A DeBERTa TF checkpoint has its encoder under <c>deberta/</c>; anything else (TFBert's <c>bert/</c>, ...) is refused.</summary>
    private static void CheckFamily(KerasWeights weights)
    {
        if (weights.Tensors.Count == 0)
            throw new CheckpointFormatException(weights.Path, null, "the file lists no weights (layer_names / weight_names are empty)");
        if (weights.Tensors.Keys.Any(k => k.StartsWith("deberta/", StringComparison.Ordinal))) return;
        var first = weights.Tensors.Keys.First();
        throw new CheckpointFormatException(weights.Path, weights.SavedNames[first],
            $"not a DeBERTa TF checkpoint: no weight is under 'deberta/' (layers: {string.Join(", ", weights.LayerNames)}); " +
            "this looks like another model family's tf_model.h5");
    }
}
