using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// The state of a run, saved as <c>trainer_state.json</c> in each checkpoint and in the output folder (Hugging Face's
/// <c>TrainerState</c>, same field names; written as <c>json.dumps(asdict(state), indent=2, sort_keys=True)</c>).
/// </summary>
public sealed class TrainerState
{
    /// <summary><c>global_step</c>: optimizer steps taken.</summary>
    public int GlobalStep { get; set; }
    /// <summary><c>epoch</c>: fractional epoch reached (null before training).</summary>
    public double? Epoch { get; set; }
    /// <summary><c>max_steps</c>: optimizer steps of the whole run.</summary>
    public int MaxSteps { get; set; }
    /// <summary><c>num_train_epochs</c>.</summary>
    public int NumTrainEpochs { get; set; }
    /// <summary><c>logging_steps</c> (resolved from a ratio).</summary>
    public int LoggingSteps { get; set; } = 500;
    /// <summary><c>eval_steps</c> (resolved from a ratio).</summary>
    public int EvalSteps { get; set; } = 500;
    /// <summary><c>save_steps</c> (resolved from a ratio).</summary>
    public int SaveSteps { get; set; } = 500;
    /// <summary><c>train_batch_size</c>: the per-device training batch size.</summary>
    public int TrainBatchSize { get; set; }
    /// <summary><c>total_flos</c>: Hugging Face's estimate, 6 · tokens · non-embedding parameters, summed over training.</summary>
    public double TotalFlos { get; set; }
    /// <summary><c>best_metric</c>: the best value of <c>metric_for_best_model</c> so far.</summary>
    public double? BestMetric { get; set; }
    /// <summary><c>best_model_checkpoint</c>: the checkpoint folder that holds it.</summary>
    public string? BestModelCheckpoint { get; set; }
    /// <summary><c>best_global_step</c>: the step of <see cref="BestMetric"/>.</summary>
    public int? BestGlobalStep { get; set; }
    /// <summary><c>log_history</c>: every log entry (training logs, evaluations, the final summary), each with <c>step</c>.</summary>
    public List<JsonObject> LogHistory { get; } = [];

    /// <summary>The early-stopping callback's counter (kept so that a resumed run stops where the original would).</summary>
    public int EarlyStoppingPatienceCounter { get; set; }

    /// <summary>Serialises the state as Hugging Face writes <c>trainer_state.json</c>.</summary>
    public string ToJson() => ToJson(null);

    /// <summary>Serialises the state; with <paramref name="args"/>, <c>stateful_callbacks</c> as Hugging Face writes it
    /// (TrainerControl, and EarlyStoppingCallback with its arguments when early stopping is on).</summary>
    internal string ToJson(TrainingArguments? args)
    {
        var callbacks = new JsonObject
        {
            ["TrainerControl"] = new JsonObject
            {
                ["args"] = new JsonObject
                {
                    ["should_epoch_stop"] = false,
                    ["should_evaluate"] = false,
                    ["should_log"] = false,
                    ["should_save"] = true,
                    ["should_training_stop"] = GlobalStep >= MaxSteps && MaxSteps > 0,
                },
                ["attributes"] = new JsonObject(),
            },
        };
        if (args?.EarlyStoppingPatience is int patience)
            callbacks["EarlyStoppingCallback"] = new JsonObject
            {
                ["args"] = new JsonObject { ["early_stopping_patience"] = patience, ["early_stopping_threshold"] = args.EarlyStoppingThreshold },
                ["attributes"] = new JsonObject { ["early_stopping_patience_counter"] = EarlyStoppingPatienceCounter },
            };
        var o = new JsonObject
        {
            ["best_metric"] = BestMetric is double b ? JsonValue.Create(b) : null,
            ["best_global_step"] = BestGlobalStep,
            ["best_model_checkpoint"] = BestModelCheckpoint,
            ["epoch"] = Epoch is double e ? JsonValue.Create(e) : null,
            ["eval_steps"] = EvalSteps,
            ["global_step"] = GlobalStep,
            ["is_hyper_param_search"] = false,
            ["is_local_process_zero"] = true,
            ["is_world_process_zero"] = true,
            ["log_history"] = new JsonArray([.. LogHistory.Select(x => x.DeepClone())]),
            ["logging_steps"] = LoggingSteps,
            ["max_steps"] = MaxSteps,
            ["num_input_tokens_seen"] = 0,
            ["num_train_epochs"] = NumTrainEpochs,
            ["save_steps"] = SaveSteps,
            ["stateful_callbacks"] = callbacks,
            ["total_flos"] = TotalFlos,
            ["train_batch_size"] = TrainBatchSize,
            ["trial_name"] = null,
            ["trial_params"] = null,
        };
        return PythonJson.Serialize(o, indent: 2, sortKeys: true) + "\n";
    }

    /// <summary>Reads a <c>trainer_state.json</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not a trainer state; the message names it and the field.</exception>
    public static TrainerState Load(string path)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: not a JSON object");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a valid trainer_state.json: {e.Message}", e);
        }
        T Get<T>(string key, T fallback)
        {
            try { return o[key] is { } n ? n.GetValue<T>() : fallback; }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: field '{key}' has the wrong type", e);
            }
        }
        var s = new TrainerState
        {
            GlobalStep = Get("global_step", -1),
            MaxSteps = Get("max_steps", 0),
            NumTrainEpochs = Get("num_train_epochs", 0),
            LoggingSteps = Get("logging_steps", 500),
            EvalSteps = Get("eval_steps", 500),
            SaveSteps = Get("save_steps", 500),
            TrainBatchSize = Get("train_batch_size", 0),
            TotalFlos = o["total_flos"] is { } f ? f.GetValue<double>() : 0,
            Epoch = o["epoch"] is { } ep ? ep.GetValue<double>() : null,
            BestMetric = o["best_metric"] is { } bm ? bm.GetValue<double>() : null,
            BestModelCheckpoint = o["best_model_checkpoint"]?.GetValue<string>(),
            BestGlobalStep = o["best_global_step"] is { } bg ? bg.GetValue<int>() : null,
        };
        if (s.GlobalStep < 0) throw new InvalidDataException($"{path}: field 'global_step' is missing");
        if (o["stateful_callbacks"]?["EarlyStoppingCallback"]?["attributes"]?["early_stopping_patience_counter"] is { } pc)
            s.EarlyStoppingPatienceCounter = pc.GetValue<int>();
        if (o["log_history"] is JsonArray history)
            foreach (var entry in history)
                s.LogHistory.Add(entry?.DeepClone().AsObject() ?? throw new InvalidDataException($"{path}: a log_history entry is null"));
        return s;
    }
}
