using DebertaSharp.Modeling;
using DebertaSharp.Serialization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DebertaSharp;

/// <summary>Options of <see cref="DebertaPreTrainedModel.FromPretrained"/>.</summary>
public sealed record PretrainedLoadOptions
{
    /// <summary>Leave encoder weights that the checkpoint lacks as initialised instead of failing (they are reported).</summary>
    public bool AllowMissingWeights { get; init; }

    /// <summary>Receives one line per loading decision (files read, head chosen, weights initialised, keys ignored).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Receives the same loading decisions as <see cref="Log"/>, as Information, or Warning for weights newly
    /// initialised, missing or ignored (what Hugging Face's loader warns about); null for none.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>
    /// Read the TensorFlow checkpoint <c>tf_model.h5</c> (transformers 4.x's <c>from_tf=True</c>): Keras names are
    /// converted to PyTorch names and Dense kernels transposed. Without it a folder holding only <c>tf_model.h5</c> is an
    /// error that says so.
    /// </summary>
    public bool FromTf { get; init; }
}

/// <summary>What <see cref="DebertaPreTrainedModel.FromPretrained"/> did.</summary>
public sealed record LoadReport
{
    /// <summary>The checkpoint files read.</summary>
    public required IReadOnlyList<string> FilesRead { get; init; }
    /// <summary>Model weights the checkpoint lacked (initialised as Hugging Face's <c>_init_weights</c>).</summary>
    public required IReadOnlyList<string> MissingKeys { get; init; }
    /// <summary>Checkpoint keys the model has no place for (ignored).</summary>
    public required IReadOnlyList<string> UnexpectedKeys { get; init; }
    /// <summary>Head weights absent from the checkpoint (e.g. a base checkpoint loaded into a classifier), newly initialised.</summary>
    public required IReadOnlyList<string> NewlyInitializedHeadKeys { get; init; }
    /// <summary>Checkpoint keys dropped on purpose (tied decoder copies, position_ids buffers, unused absolute positions).</summary>
    public required IReadOnlyList<string> IgnoredKeys { get; init; }
    /// <summary>For masked LM: <c>legacy</c> (cls.predictions) or <c>lm_predictions</c>; null for other heads.</summary>
    public string? MaskedLMHead { get; init; }
    /// <summary>Why that masked LM head was chosen.</summary>
    public string? MaskedLMHeadReason { get; init; }
    /// <summary>The dtype of the checkpoint's floating-point weights.</summary>
    public ScalarType CheckpointDtype { get; init; }
    /// <summary>The dtype the model was loaded in.</summary>
    public ScalarType ModelDtype { get; init; }
    /// <summary>Human-readable log lines, as sent to <see cref="PretrainedLoadOptions.Log"/>.</summary>
    public required IReadOnlyList<string> Messages { get; init; }
}

/// <summary>
/// Base of every DeBERTa model (Hugging Face's <c>DebertaPreTrainedModel</c>): the configuration, the generic forward,
/// checkpoint loading and saving. Use <c>train()</c> / <c>eval()</c> to switch dropout on and off.
/// </summary>
public abstract class DebertaPreTrainedModel : nn.Module
{
    private protected DebertaPreTrainedModel(string name, DebertaConfig config) : base(name)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
    }

    /// <summary>The configuration the model was built from.</summary>
    public DebertaConfig Config { get; private set; }

    /// <summary>Which head this model is.</summary>
    public abstract DebertaHead Head { get; }

    /// <summary>Runs the model on <paramref name="inputs"/>; the concrete output type matches <see cref="Head"/>.</summary>
    public abstract ModelOutput Forward(DebertaInputs inputs);

    /// <summary>What <see cref="FromPretrained"/> did; null for a model built from a configuration.</summary>
    public LoadReport? LoadReport { get; private set; }

    /// <summary>The encoder (this model for <see cref="DebertaModel"/>).</summary>
    internal virtual DebertaModel Backbone => (DebertaModel)this;

    /// <summary>The Hugging Face class name of a head.</summary>
    public static string ArchitectureName(DebertaHead head) => head switch
    {
        DebertaHead.Base => "DebertaModel",
        DebertaHead.MaskedLM => "DebertaForMaskedLM",
        DebertaHead.SequenceClassification => "DebertaForSequenceClassification",
        DebertaHead.TokenClassification => "DebertaForTokenClassification",
        DebertaHead.QuestionAnswering => "DebertaForQuestionAnswering",
        _ => throw new ArgumentOutOfRangeException(nameof(head), head, "unknown head"),
    };

    /// <summary>How the error for an <c>architectures</c> list naming no DeBERTa class ends (the CLI words it for its flag).</summary>
    internal const string ArchitecturesHint = "; pass the head to choose the model class";

    /// <summary>The head named by <c>architectures</c> (first DeBERTa class found), or null.</summary>
    public static DebertaHead? HeadFromArchitectures(IReadOnlyList<string>? architectures)
    {
        foreach (string a in architectures ?? [])
            foreach (DebertaHead h in Enum.GetValues<DebertaHead>())
                if (a == ArchitectureName(h)) return h;
        return null;
    }

    /// <summary>Creates an initialised model of <paramref name="head"/> for <paramref name="config"/>.</summary>
    public static DebertaPreTrainedModel Create(DebertaConfig config, DebertaHead head) => head switch
    {
        DebertaHead.Base => new DebertaModel(config),
        DebertaHead.MaskedLM => new DebertaForMaskedLM(config),
        DebertaHead.SequenceClassification => new DebertaForSequenceClassification(config),
        DebertaHead.TokenClassification => new DebertaForTokenClassification(config),
        DebertaHead.QuestionAnswering => new DebertaForQuestionAnswering(config),
        _ => throw new ArgumentOutOfRangeException(nameof(head), head, "unknown head"),
    };

    /// <summary>
    /// The validated config.json of checkpoint folder <paramref name="dir"/> (shared by the PyTorch and the TF family);
    /// a <see cref="DebertaConfigException"/> names the file as well as the key.
    /// </summary>
    internal static DebertaConfig ReadCheckpointConfig(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"Checkpoint folder not found: {dir}");
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"No config.json in {dir}", configPath);
        var config = DebertaConfig.FromFile(configPath);
        try
        {
            config.Validate();
        }
        catch (DebertaConfigException e) when (e.FilePath is null)
        {
            throw new DebertaConfigException(e.Key, e.Detail, configPath, e);   // name the file, not just the key
        }
        return config;
    }

    /// <summary>
    /// Loads <c>config.json</c> and the weights of a Hugging Face checkpoint folder (safetensors, sharded or not, or
    /// <c>pytorch_model.bin</c>).
    /// </summary>
    /// <param name="dir">The checkpoint folder.</param>
    /// <param name="dtype">The dtype of the model; null follows Hugging Face 5.x's default <c>dtype="auto"</c>: config.json's
    /// <c>dtype</c> (or <c>torch_dtype</c>), else the checkpoint's floating-point dtype.</param>
    /// <param name="device">Where to put the model; null for the CPU.</param>
    /// <param name="head">The model class; null takes it from <c>architectures</c> in config.json (the first DeBERTa class
    /// it names), or <see cref="DebertaHead.Base"/> when the list is absent or empty; a list that names no DeBERTa class is
    /// an error then.</param>
    /// <param name="options">Loading options.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dtype"/> is not a floating-point dtype.</exception>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">No config.json or no weights file.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is malformed, a weight has the wrong shape, or encoder weights are missing.</exception>
    /// <exception cref="DebertaConfigException">config.json is invalid, its <c>model_type</c> is not <c>deberta</c>, or
    /// <paramref name="head"/> is null and its <c>architectures</c> names no DeBERTa class.</exception>
    public static DebertaPreTrainedModel FromPretrained(string dir, ScalarType? dtype = null, Device? device = null,
        DebertaHead? head = null, PretrainedLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (dtype is { } requested && requested is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new ArgumentOutOfRangeException(nameof(dtype), requested,
                $"dtype {requested} is not a model dtype (Float32, Float16, BFloat16 or Float64).");
        var config = ReadCheckpointConfig(dir);
        var chosen = head ?? HeadFromArchitectures(config.Architectures);
        if (chosen is null && config.Architectures is { Count: > 0 } named)
        {
            // A list that names classes, none of them DeBERTa's (a typo, another family): building the base model
            // instead would drop the head and its labels without a word.
            throw new DebertaConfigException("architectures",
                $"[{string.Join(", ", named.Select(a => $"\"{a}\""))}] names no DeBERTa class (known: " +
                $"{string.Join(", ", Enum.GetValues<DebertaHead>().Select(ArchitectureName))}){ArchitecturesHint}",
                Path.Combine(dir, "config.json"));
        }
        return PretrainedLoader.Load(dir, config, chosen ?? DebertaHead.Base, dtype, device, options ?? new PretrainedLoadOptions());
    }

    internal void SetLoaded(DebertaConfig config, LoadReport report)
    {
        Config = config;
        LoadReport = report;
    }

    /// <summary>
    /// Writes <c>config.json</c> (with <c>architectures</c>) and <c>model.safetensors</c> as Hugging Face's
    /// <c>save_pretrained</c> does (same names, shapes and dtypes; the tied decoder is not written). Both writes are atomic.
    /// </summary>
    /// <param name="dir">The folder, created if needed.</param>
    public void SavePretrained(string dir) => SavePretrained(dir, null);

    /// <summary><see cref="SavePretrained(string)"/> with some tensors replaced by name (the trainer's fp32 master weights).</summary>
    internal void SavePretrained(string dir, IReadOnlyDictionary<string, Tensor>? overrides)
    {
        ArgumentNullException.ThrowIfNull(dir);
        Directory.CreateDirectory(dir);
        var state = StateDictForSave();
        if (overrides is not null)
            foreach (var (name, t) in overrides)
                if (state.ContainsKey(name)) state[name] = t;
        string dtypeName = state.Values.FirstOrDefault(t => t.is_floating_point())?.dtype switch
        {
            ScalarType.Float16 => "float16",
            ScalarType.BFloat16 => "bfloat16",
            ScalarType.Float64 => "float64",
            _ => "float32",
        };
        var extension = new Dictionary<string, System.Text.Json.JsonElement>(Config.ExtensionData ?? []);
        extension["dtype"] = System.Text.Json.JsonSerializer.SerializeToElement(dtypeName);
        var config = Config with { Architectures = [ArchitectureName(Head)], ExtensionData = extension };
        // Serialized before the weights are replaced, so that what can still fail after their rename is only the
        // write of this small file (not new weights beside an old config because the config could not be written).
        string configJson = config.ToJson();
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), StateDictMapper.ToSave(state, Config.TieWordEmbeddings != false));
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), configJson);
    }

    /// <summary>Parameter and buffer names → tensors, as Hugging Face's <c>save_pretrained</c> writes them.</summary>
    internal Dictionary<string, Tensor> StateDictForSave()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in named_parameters()) result[name] = p;
        foreach (var (name, b) in named_buffers()) result[name] = b;
        return result;
    }
}
