using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>The body of <see cref="DebertaPreTrainedModel.FromPretrained"/>.</summary>
internal static class PretrainedLoader
{
    private const string Prefix = "deberta.";

    public static DebertaPreTrainedModel Load(string dir, DebertaConfig config, DebertaHead head, ScalarType? dtype,
        Device? device, PretrainedLoadOptions options)
    {
        var messages = new List<string>();
        void Log(string line)
        {
            messages.Add(line);
            options.Log?.Invoke(line);
        }

        var (checkpoint, files) = ReadCheckpoint(dir);
        try
        {
            foreach (string f in files) Log($"read {f}");

            string? mlmHead = null, mlmReason = null;
            if (head == DebertaHead.MaskedLM)
            {
                bool hasLm = checkpoint.Keys.Any(k => k.StartsWith("lm_predictions.lm_head.", StringComparison.Ordinal));
                bool hasCls = checkpoint.Keys.Any(k => k.StartsWith("cls.predictions.", StringComparison.Ordinal));
                bool legacy;
                if (hasLm && !hasCls)
                {
                    legacy = false;
                    mlmReason = config.Legacy
                        ? "the checkpoint's MLM weights are lm_predictions.lm_head.*, which only the non-legacy head uses (config.json says legacy: true)"
                        : "config.json says legacy: false and the checkpoint has lm_predictions.lm_head.* weights";
                }
                else if (hasCls && !hasLm)
                {
                    legacy = true;
                    mlmReason = config.Legacy
                        ? "config.json says legacy: true and the checkpoint has cls.predictions.* weights"
                        : "the checkpoint's MLM weights are cls.predictions.*, which only the legacy head uses (config.json says legacy: false)";
                }
                else
                {
                    legacy = config.Legacy;
                    mlmReason = hasLm
                        ? $"the checkpoint has both MLM layouts; config.json's legacy: {(legacy ? "true" : "false")} decides"
                        : $"the checkpoint has no MLM head weights; config.json's legacy: {(legacy ? "true" : "false")} decides";
                }
                if (legacy != config.Legacy) config = config with { Legacy = legacy };
                mlmHead = legacy ? "legacy" : "lm_predictions";
                Log($"masked LM head: {(legacy ? "legacy cls.predictions" : "lm_predictions.lm_head")} ({mlmReason})");
            }

            // dtype: the requested one, else the checkpoint's floating dtype (HF 5.x dtype="auto").
            var ckptDtype = checkpoint.Values.FirstOrDefault(t => t.is_floating_point())?.dtype ?? ScalarType.Float32;
            var modelDtype = dtype ?? ckptDtype;
            var model = DebertaPreTrainedModel.Create(config, head);
            if (modelDtype != ScalarType.Float32) model.to(modelDtype);   // replaces the parameters: take the state dict after
            var expected = model.StateDictForSave();
            bool hasPositions = config.PositionBiasedInput;
            bool tiedDecoder = config.TieWordEmbeddings != false;

            // Map checkpoint keys to model keys.
            var mapped = new Dictionary<string, (string Source, Tensor Tensor)>(StringComparer.Ordinal);
            var unexpected = new List<string>();
            var ignored = new List<string>();
            foreach (var (key, tensor) in checkpoint)
            {
                string k = RenameLegacyNorm(key);
                string? target = null;
                if (expected.ContainsKey(k)) target = k;
                else if (k.StartsWith(Prefix, StringComparison.Ordinal) && expected.ContainsKey(k[Prefix.Length..])) target = k[Prefix.Length..];
                else if (expected.ContainsKey(Prefix + k)) target = Prefix + k;

                if (target is not null)
                {
                    if (!mapped.TryAdd(target, (key, tensor)))
                        throw new CheckpointFormatException(dir, key, $"maps to '{target}', which '{mapped[target].Source}' already provides");
                    continue;
                }
                string bare = k.StartsWith(Prefix, StringComparison.Ordinal) ? k[Prefix.Length..] : k;
                if (bare.EndsWith("position_ids", StringComparison.Ordinal)
                    || (!hasPositions && bare == "embeddings.position_embeddings.weight")
                    || (tiedDecoder && bare is "cls.predictions.decoder.weight" or "lm_predictions.lm_head.weight")
                    || bare == "cls.predictions.decoder.bias")
                    ignored.Add(key);
                else
                    unexpected.Add(key);
            }

            var missing = expected.Keys.Where(k => !mapped.ContainsKey(k)).ToList();
            var headMissing = head == DebertaHead.Base ? [] : missing.Where(k => !k.StartsWith(Prefix, StringComparison.Ordinal)).ToList();
            var bodyMissing = missing.Except(headMissing).ToList();
            if (bodyMissing.Count > 0 && !options.AllowMissingWeights)
                throw new CheckpointFormatException(dir, bodyMissing[0],
                    $"the checkpoint lacks {bodyMissing.Count} weight(s) of the encoder: {string.Join(", ", bodyMissing.Take(20))}" +
                    (bodyMissing.Count > 20 ? ", ..." : "") + " (PretrainedLoadOptions.AllowMissingWeights leaves them initialised)");

            using (no_grad())
            {
                foreach (var (target, (source, tensor)) in mapped)
                {
                    var param = expected[target];
                    if (!param.shape.SequenceEqual(tensor.shape))
                        throw new CheckpointFormatException(dir, source,
                            $"has shape [{string.Join(", ", tensor.shape)}] but the model's '{target}' is [{string.Join(", ", param.shape)}]");
                    param.copy_(tensor);
                }
            }
            if (device is not null) model.to(device);

            if (headMissing.Count > 0) Log($"newly initialised head weights: {string.Join(", ", headMissing)}");
            if (bodyMissing.Count > 0) Log($"missing encoder weights left initialised: {string.Join(", ", bodyMissing)}");
            if (unexpected.Count > 0) Log($"unexpected checkpoint keys ignored: {string.Join(", ", unexpected)}");
            if (ignored.Count > 0) Log($"checkpoint keys dropped on purpose: {string.Join(", ", ignored)}");
            Log($"dtype: checkpoint {ckptDtype}, model {modelDtype}");

            var report = new LoadReport
            {
                FilesRead = files,
                MissingKeys = missing,
                UnexpectedKeys = unexpected,
                NewlyInitializedHeadKeys = headMissing,
                IgnoredKeys = ignored,
                MaskedLMHead = mlmHead,
                MaskedLMHeadReason = mlmReason,
                CheckpointDtype = ckptDtype,
                ModelDtype = modelDtype,
                Messages = messages,
            };
            model.SetLoaded(config, report);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in checkpoint.Values) t.Dispose();
        }
    }

    /// <summary>gamma/beta → weight/bias for LayerNorm parameters of older checkpoints.</summary>
    private static string RenameLegacyNorm(string key)
    {
        if (key.EndsWith(".gamma", StringComparison.Ordinal)) return key[..^".gamma".Length] + ".weight";
        if (key.EndsWith(".beta", StringComparison.Ordinal)) return key[..^".beta".Length] + ".bias";
        return key;
    }

    private static (Dictionary<string, Tensor> Tensors, List<string> Files) ReadCheckpoint(string dir)
    {
        string single = Path.Combine(dir, "model.safetensors");
        if (File.Exists(single)) return (SafeTensors.Load(single), [single]);
        throw new FileNotFoundException($"No model.safetensors in {dir}", single);
    }
}
