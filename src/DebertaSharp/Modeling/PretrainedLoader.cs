using DebertaSharp.Serialization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Modeling;

/// <summary>The body of <see cref="DebertaPreTrainedModel.FromPretrained"/>.</summary>
internal static class PretrainedLoader
{
    private const string Prefix = "deberta.";

    public static DebertaPreTrainedModel Load(string dir, DebertaConfig config, DebertaHead head, ScalarType? dtype,
        Device? device, PretrainedLoadOptions options, LoadedCheckpoint? source = null)
    {
        var messages = new List<string>();
        void Log(string line, LogLevel level = LogLevel.Information)
        {
            messages.Add(line);
            options.Log?.Invoke(line);
            options.Logger?.Log(level, "{Checkpoint}: {Decision}", dir, line);
        }

        // FromTf: tf_model.h5 (Keras names converted and kernels transposed, as transformers 4.x's from_tf).
        using var loaded = source ?? (options.FromTf
            ? TensorFlow.TFCheckpoint.LoadAsStateDict(dir, config, head)
            : TensorFlow.TFCheckpoint.LoadPyTorchOrExplain(dir));
        // config.json's dtype is consulted only when none is requested; checked here, where a failure disposes the weights.
        var configDtype = dtype is null ? ConfigDtype(config, Path.Combine(dir, "config.json")) : null;
        var checkpoint = loaded.StateDict;
        var files = loaded.Files;
        foreach (string f in files) Log($"read {f}");

        string? mlmHead = null, mlmReason = null;
        if (head == DebertaHead.MaskedLM)
        {
            var layout = StateDictMapper.DetectMlmHead(checkpoint.Keys);
            bool legacy = layout switch
            {
                MlmHeadLayout.NonLegacy => false,
                MlmHeadLayout.Legacy => true,
                _ => config.Legacy,
            };
            string configSays = $"config.json says legacy: {(config.Legacy ? "true" : "false")}";
            mlmReason = layout switch
            {
                MlmHeadLayout.None => $"the checkpoint has no MLM head weights; {configSays}",
                MlmHeadLayout.NonLegacy when config.Legacy =>
                    $"the checkpoint's MLM weights are lm_predictions.lm_head.*, which only the non-legacy head uses ({configSays})",
                MlmHeadLayout.Legacy when !config.Legacy =>
                    $"the checkpoint's MLM weights are cls.predictions.*, which only the legacy head uses ({configSays})",
                MlmHeadLayout.NonLegacy => $"{configSays} and the checkpoint has lm_predictions.lm_head.* weights",
                _ => $"{configSays} and the checkpoint has cls.predictions.* weights",
            };
            if (legacy != config.Legacy) config = config with { Legacy = legacy };
            mlmHead = legacy ? "legacy" : "lm_predictions";
            Log($"masked LM head: {(legacy ? "legacy cls.predictions" : "lm_predictions.lm_head")} ({mlmReason})");
        }

        // dtype: the requested one, else HF 5.x's default dtype="auto": config.json's "dtype" ("torch_dtype" in older
        // files), else the dtype of the checkpoint's first floating-point weight.
        var ckptDtype = checkpoint.Values.FirstOrDefault(t => t.is_floating_point())?.dtype ?? ScalarType.Float32;
        var modelDtype = dtype ?? configDtype ?? ckptDtype;
        var model = DebertaPreTrainedModel.Create(config, head);
        try
        {
            if (modelDtype != ScalarType.Float32) model.to(modelDtype);   // replaces the parameters: take the state dict after
            var expected = model.StateDictForSave();
            var shapes = expected.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);
            var mapping = StateDictMapper.Map(checkpoint, shapes, targetIsHeadModel: head != DebertaHead.Base);
            if (mapping.ShapeMismatches.Count > 0)
                throw new CheckpointFormatException(dir, mapping.ShapeMismatches[0].FileKey,
                    "shape mismatch: " + string.Join("; ", mapping.ShapeMismatches));

            // Tied copies in the file (torch.save of a state dict keeps them) that this model computes from the embeddings.
            var ignored = mapping.Keys.Ignored.ToList();
            var unexpected = new List<string>();
            foreach (string k in mapping.Unexpected)
            {
                if (head != DebertaHead.Base && StateDictMapper.TiedWeights.ContainsKey(k) && !expected.ContainsKey(k)) ignored.Add(k);
                else unexpected.Add(k);
            }

            // Names the mapper calls tied are parameters of this model (tied ones are not parameters here): the legacy
            // decoder with tie_word_embeddings false. Absent from the file, it stays initialised: report it as missing.
            var missing = mapping.Missing.Concat(mapping.Tied).ToList();
            var headMissing = head == DebertaHead.Base ? [] : missing.Where(k => !k.StartsWith(Prefix, StringComparison.Ordinal)).ToList();
            var bodyMissing = missing.Except(headMissing).ToList();
            if (bodyMissing.Count > 0 && !options.AllowMissingWeights)
                throw new CheckpointFormatException(dir, bodyMissing[0],
                    $"the checkpoint lacks {bodyMissing.Count} weight(s) of the encoder: {string.Join(", ", bodyMissing.Take(20))}" +
                    (bodyMissing.Count > 20 ? ", ..." : "") + " (PretrainedLoadOptions.AllowMissingWeights leaves them initialised)");

            using (no_grad())
            {
                foreach (var (target, tensor) in mapping.Mapped)
                    expected[target].copy_(tensor);
            }
            if (device is not null) model.to(device);

            if (headMissing.Count > 0) Log($"newly initialised head weights: {string.Join(", ", headMissing)}", LogLevel.Warning);
            if (bodyMissing.Count > 0) Log($"missing encoder weights left initialised: {string.Join(", ", bodyMissing)}", LogLevel.Warning);
            if (unexpected.Count > 0) Log($"unexpected checkpoint keys ignored: {string.Join(", ", unexpected)}", LogLevel.Warning);
            if (ignored.Count > 0) Log($"checkpoint keys dropped on purpose: {string.Join(", ", ignored)}");
            Log($"dtype: checkpoint {ckptDtype}, model {modelDtype}");
            if (modelDtype == ScalarType.BFloat16 && !CpuFeatures.HasBf16) Log($"dtype BFloat16: {CpuFeatures.Bf16EmulatedNotice}", LogLevel.Warning);

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
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The dtype named by config.json's <c>dtype</c> or <c>torch_dtype</c>, if any; <c>"auto"</c> is none (the
    /// checkpoint's dtype is used).
    /// </summary>
    /// <exception cref="DebertaConfigException">The value names no model dtype (a typo, an integer or float8 type):
    /// loading in the checkpoint's dtype instead would ignore it without a word.</exception>
    internal static ScalarType? ConfigDtype(DebertaConfig config, string configPath)
    {
        foreach (string key in new[] { "dtype", "torch_dtype" })
        {
            if (config.ExtensionData?.TryGetValue(key, out var v) != true || v.ValueKind != System.Text.Json.JsonValueKind.String) continue;
            string? name = v.GetString();
            return name switch
            {
                "float32" or "float" => ScalarType.Float32,
                "float16" or "half" => ScalarType.Float16,
                "bfloat16" => ScalarType.BFloat16,
                "float64" or "double" => ScalarType.Float64,
                "auto" => null,
                _ => throw new DebertaConfigException(key,
                    $"'{name}' is not a model dtype (float32, float16, bfloat16, float64 or auto)", configPath),
            };
        }
        return null;
    }
}
