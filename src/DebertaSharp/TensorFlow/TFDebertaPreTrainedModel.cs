using DebertaSharp.Modeling;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.TensorFlow;

/// <summary>
/// Base of the TF DeBERTa family (transformers 4.x's <c>TFDebertaPreTrainedModel</c>): Keras names and
/// <c>tf_model.h5</c> checkpoints, <c>Call(..., training)</c> and the TF loss mixins. The compute is the PyTorch
/// family's (the same modules run underneath); what is the TF code's own is kept: the masked softmax of
/// <c>TFDebertaXSoftmax</c> (padded query rows give zero attention, not uniform), the losses, the h5 layout and names.
/// </summary>
/// <remarks>
/// Numerics: keras <c>LayerNormalization</c> (every LayerNorm of the TF classes) computes (x - mean) / sqrt(var + eps)
/// with the biased variance, the formula of the PyTorch family's fp32 LayerNorm, and <c>TFDebertaStableDropout</c>'s
/// xdropout (zero with probability p, scale by 1 / (1 - p)) is the dropout the PyTorch modules apply; outputs at real
/// (unpadded) positions are those of the PyTorch family. The models run in float32, Keras's default.
/// </remarks>
public abstract class TFDebertaPreTrainedModel : IDisposable
{
    private readonly DebertaPreTrainedModel _engine;

    private protected TFDebertaPreTrainedModel(DebertaPreTrainedModel engine, DebertaConfig config)
    {
        _engine = engine;
        Config = config;
        _engine.Backbone.Encoder.TFMaskedSoftmax = true;
        _engine.eval();
    }

    /// <summary>The configuration (as config.json has it).</summary>
    public DebertaConfig Config { get; }

    /// <summary>Which head this model is.</summary>
    public abstract DebertaHead Head { get; }

    /// <summary>The Keras model name, the first component of every weight name (<c>tf_deberta_for_masked_lm</c>, ...).</summary>
    public string Name => KerasLayout.ModelName(Head);

    /// <summary>What <see cref="FromPretrained"/> did, with weight names in Keras form; null for a model built from a configuration.</summary>
    public LoadReport? LoadReport { get; private set; }

    /// <summary>The Keras names of the model's weights (<c>tf_deberta_model/deberta/embeddings/word_embeddings/weight:0</c>, ...).</summary>
    public IReadOnlyList<string> WeightNames => KerasLayout.Variables(Config, Head).Select(v => Name + "/" + v.Name).ToList();

    /// <summary>The PyTorch-family model that computes this one (shared modules, PyTorch names).</summary>
    internal DebertaPreTrainedModel Engine => _engine;

    /// <summary>Creates an initialised TF model of <paramref name="head"/> for <paramref name="config"/>.</summary>
    public static TFDebertaPreTrainedModel Create(DebertaConfig config, DebertaHead head)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Wrap(DebertaPreTrainedModel.Create(EngineConfig(config), head), config);
    }

    /// <summary>
    /// Loads a checkpoint folder into the TF class of its head: <c>tf_model.h5</c> (Keras's h5 layout), or with
    /// <paramref name="fromPt"/> the PyTorch weights (<c>model.safetensors</c>, sharded, or <c>pytorch_model.bin</c>) with
    /// the name conversion and kernel transposes of transformers' <c>from_pt</c>.
    /// </summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="fromPt">true: the PyTorch weights; false: tf_model.h5; null: tf_model.h5 when present, else the PyTorch weights.</param>
    /// <param name="head">The class; null takes it from config.json's <c>architectures</c> (DeBERTa or TFDeberta names), else the base model.</param>
    /// <param name="options">Loading options (missing encoder weights, the log).</param>
    /// <exception cref="FileNotFoundException">No config.json or no weights of the kind asked for.</exception>
    /// <exception cref="CheckpointFormatException">A malformed, truncated or mis-shaped file, or one of another model family; the
    /// message names the file and the weight.</exception>
    /// <exception cref="DebertaConfigException">config.json is invalid.</exception>
    public static TFDebertaPreTrainedModel FromPretrained(string dir, bool? fromPt = null, DebertaHead? head = null, PretrainedLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var config = DebertaPreTrainedModel.ReadCheckpointConfig(dir);
        options ??= new PretrainedLoadOptions();
        var chosen = head ?? HeadFromArchitectures(config.Architectures);
        if (chosen is null && config.Architectures is { Count: > 0 } named)
            throw new DebertaConfigException("architectures",
                $"[{string.Join(", ", named.Select(a => $"\"{a}\""))}] names no DeBERTa class (TF or PyTorch); pass the head to choose the model class",
                Path.Combine(dir, "config.json"));
        bool h5 = fromPt switch
        {
            true => false,
            false => true,
            null => File.Exists(Path.Combine(dir, TFCheckpoint.FileName)),
        };
        var engineConfig = EngineConfig(config);
        LoadedCheckpoint source;
        if (h5)
        {
            source = TFCheckpoint.LoadAsStateDict(dir, engineConfig, chosen ?? DebertaHead.Base);
        }
        else
        {
            source = CheckpointFiles.Load(dir);
            if (chosen == DebertaHead.MaskedLM) MapNonLegacyHead(source.StateDict, engineConfig, options.Log);
        }
        // float32: Keras's default dtype, whatever the PyTorch checkpoint's.
        var engine = PretrainedLoader.Load(dir, engineConfig, chosen ?? DebertaHead.Base, ScalarType.Float32, null, options, source);
        if (engine is DebertaForMaskedLM { UsesLegacyHead: false })
        {
            engine.Dispose();
            throw new CheckpointFormatException(Path.GetFullPath(dir), "lm_predictions.lm_head.dense.weight",
                "the non-legacy masked LM head with embedding_size != hidden_size has no TF counterpart (TFDebertaForMaskedLM has cls/predictions only)");
        }
        var model = Wrap(engine, config);
        model.LoadReport = model.ToKeras(engine.LoadReport!);
        return model;
    }

    /// <summary>
    /// Writes <c>config.json</c> (<c>architectures</c> without the TF prefix, as transformers' TF save_pretrained writes
    /// it) and <c>tf_model.h5</c> in the layout of Keras's save_weights: root <c>layer_names</c>, one group per top-level
    /// layer with <c>weight_names</c>, float32 datasets at the nested paths of the full weight names. Both writes are atomic.
    /// </summary>
    /// <param name="dir">The folder, created if needed.</param>
    public void SavePretrained(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        Directory.CreateDirectory(dir);
        var state = _engine.StateDictForSave();
        var extension = new Dictionary<string, System.Text.Json.JsonElement>(Config.ExtensionData ?? []);
        extension.Remove("dtype");
        extension.Remove("torch_dtype");
        // Serialized before the weights are replaced, so that what can still fail after their rename is only the
        // write of this small file (not new weights beside an old config because the config could not be written).
        string configJson = (Config with { Architectures = [DebertaPreTrainedModel.ArchitectureName(Head)], ExtensionData = extension }).ToJson();
        using (no_grad())
        {
            KerasH5.Write(Path.Combine(dir, TFCheckpoint.FileName), Name, KerasLayout.Layers(Config, Head), v =>
            {
                var t = state[EngineKey(v.PtName)];
                return v.Transposed ? t.t() : t;
            });
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), configJson);
    }

    /// <summary>Runs the model on <paramref name="inputs"/> (labels and span positions included); the output type matches <see cref="Head"/>.</summary>
    /// <param name="inputs">The inputs, as the PyTorch family takes them.</param>
    /// <param name="training">Dropout on (Keras's <c>training=True</c>).</param>
    public ModelOutput Call(DebertaInputs inputs, bool training = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (ids, mask, types, pos, embeds, att, hid) = (inputs.InputIds, inputs.AttentionMask, inputs.TokenTypeIds, inputs.PositionIds,
            inputs.InputsEmbeds, inputs.OutputAttentions, inputs.OutputHiddenStates);
        return this switch
        {
            TFDebertaModel m => m.Call(ids, mask, types, pos, embeds, att, hid, training),
            TFDebertaForMaskedLM m => m.Call(ids, mask, types, pos, embeds, att, hid, inputs.Labels, training),
            TFDebertaForSequenceClassification m => m.Call(ids, mask, types, pos, embeds, att, hid, inputs.Labels, training),
            TFDebertaForTokenClassification m => m.Call(ids, mask, types, pos, embeds, att, hid, inputs.Labels, training),
            TFDebertaForQuestionAnswering m => m.Call(ids, mask, types, pos, embeds, att, hid, inputs.StartPositions, inputs.EndPositions, training),
            _ => throw new InvalidOperationException("unknown TF model class"),
        };
    }

    /// <summary>Frees the weights.</summary>
    public void Dispose()
    {
        _engine.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The head named by <c>architectures</c>: <c>DebertaFor...</c> or <c>TFDebertaFor...</c>.</summary>
    internal static DebertaHead? HeadFromArchitectures(IReadOnlyList<string>? architectures) =>
        DebertaPreTrainedModel.HeadFromArchitectures(architectures?.Select(a => a.StartsWith("TF", StringComparison.Ordinal) ? a[2..] : a).ToList());

    /// <summary>The engine's state-dict key of a PyTorch name (the base model has no <c>deberta.</c> prefix).</summary>
    private string EngineKey(string ptName) =>
        Head == DebertaHead.Base && ptName.StartsWith(StateDictMapper.BasePrefix, StringComparison.Ordinal) ? ptName[StateDictMapper.BasePrefix.Length..] : ptName;

    /// <summary>
    /// The configuration the engine is built with: the TF classes have only the legacy masked LM head
    /// (<c>cls/predictions</c>) and always tie its decoder to the word embeddings.
    /// </summary>
    private protected static DebertaConfig EngineConfig(DebertaConfig config) =>
        config with { Legacy = true, TieWordEmbeddings = config.TieWordEmbeddings == false ? null : config.TieWordEmbeddings };

    /// <summary>
    /// A PyTorch checkpoint with the non-legacy head (<c>lm_predictions.lm_head.*</c>, transformers 5's <c>legacy: false</c>)
    /// computes LayerNorm(act(dense(h))) @ Eᵀ + bias as the TF head does when embedding_size equals hidden_size: its weights
    /// are renamed onto <c>cls.predictions</c>.
    /// </summary>
    private static void MapNonLegacyHead(Dictionary<string, Tensor> dict, DebertaConfig config, Action<string>? log)
    {
        const string from = "lm_predictions.lm_head.";
        if (config.EffectiveEmbeddingSize != config.HiddenSize || !dict.Keys.Any(k => k.StartsWith(from, StringComparison.Ordinal))) return;
        foreach (string k in dict.Keys.Where(k => k.StartsWith(from, StringComparison.Ordinal)).ToList())
        {
            string rest = k[from.Length..];
            string to = rest == "bias" ? "cls.predictions.bias" : "cls.predictions.transform." + rest;
            if (dict.ContainsKey(to)) continue;
            dict[to] = dict[k];
            dict.Remove(k);
        }
        log?.Invoke("masked LM head: lm_predictions.lm_head.* mapped onto the TF head cls/predictions (the same computation)");
    }

    /// <summary>The engine's report with weight names in Keras form (names the Keras layout does not know stay as they are).</summary>
    private LoadReport ToKeras(LoadReport report)
    {
        var byPt = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in KerasLayout.Variables(Config, Head)) byPt.TryAdd(EngineKey(v.PtName), Name + "/" + v.Name);
        // Unexpected keys come from the file (whatever model it was saved from): their names below the model.
        var fileNames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DebertaHead h in Enum.GetValues<DebertaHead>())
            foreach (var v in KerasLayout.Variables(Config, h)) fileNames.TryAdd(v.PtName, v.Name);
        IReadOnlyList<string> Map(IReadOnlyList<string> keys, Dictionary<string, string> names) => keys.Select(k => names.GetValueOrDefault(k, k)).ToList();
        return report with
        {
            MissingKeys = Map(report.MissingKeys, byPt),
            NewlyInitializedHeadKeys = Map(report.NewlyInitializedHeadKeys, byPt),
            UnexpectedKeys = Map(report.UnexpectedKeys, fileNames),
        };
    }

    private static TFDebertaPreTrainedModel Wrap(DebertaPreTrainedModel engine, DebertaConfig config) => engine.Head switch
    {
        DebertaHead.Base => new TFDebertaModel(engine, config),
        DebertaHead.MaskedLM => new TFDebertaForMaskedLM(engine, config),
        DebertaHead.SequenceClassification => new TFDebertaForSequenceClassification(engine, config),
        DebertaHead.TokenClassification => new TFDebertaForTokenClassification(engine, config),
        _ => new TFDebertaForQuestionAnswering(engine, config),
    };

    /// <summary>Runs the engine with dropout on or off (Keras's <c>training</c>), then restores its mode.</summary>
    /// <remarks>
    /// Calls in the model's current mode (inference) switch nothing and may run concurrently; a call that switches the
    /// mode holds a lock for its duration, which serialises such calls but not inference calls running beside them:
    /// do not mix <c>training: true</c> with concurrent inference on one model.
    /// </remarks>
    private protected T Run<T>(bool training, DebertaInputs inputs, Func<ModelOutput, T> wrap) where T : ModelOutput
    {
        using var scope = NewDisposeScope();
        if (training == _engine.training) return Scopes.MoveOut(scope, wrap(_engine.Forward(inputs)));
        lock (_modeLock)
        {
            bool was = _engine.training;
            _engine.train(training);
            try
            {
                return Scopes.MoveOut(scope, wrap(_engine.Forward(inputs)));
            }
            finally
            {
                _engine.train(was);
            }
        }
    }

    private readonly object _modeLock = new();

    private protected static DebertaInputs Inputs(Tensor? inputIds, Tensor? attentionMask, Tensor? tokenTypeIds, Tensor? positionIds,
        Tensor? inputsEmbeds, bool outputAttentions, bool outputHiddenStates) => new()
        {
            InputIds = inputIds,
            AttentionMask = attentionMask,
            TokenTypeIds = tokenTypeIds,
            PositionIds = positionIds,
            InputsEmbeds = inputsEmbeds,
            OutputAttentions = outputAttentions,
            OutputHiddenStates = outputHiddenStates,
        };
}
