using System.Text.Json;
using System.Text.Json.Serialization;

namespace DebertaSharp.Training;

/// <summary>When something happens during training (Hugging Face's <c>IntervalStrategy</c>).</summary>
public enum IntervalStrategy
{
    /// <summary>Never (<c>"no"</c>).</summary>
    No,
    /// <summary>Every N optimizer steps (<c>"steps"</c>).</summary>
    Steps,
    /// <summary>At the end of every epoch (<c>"epoch"</c>).</summary>
    Epoch,
}

/// <summary>The learning-rate schedules of Hugging Face's <c>get_scheduler</c> (<c>SchedulerType</c>).</summary>
public enum SchedulerType
{
    /// <summary><c>"linear"</c>: warmup, then linear decay to 0.</summary>
    Linear,
    /// <summary><c>"cosine"</c>: warmup, then half a cosine to 0.</summary>
    Cosine,
    /// <summary><c>"constant"</c>.</summary>
    Constant,
    /// <summary><c>"constant_with_warmup"</c>.</summary>
    ConstantWithWarmup,
    /// <summary><c>"polynomial"</c> (power 1, <c>lr_end</c> 1e-7).</summary>
    Polynomial,
}

/// <summary>
/// The training options, mirroring Hugging Face's <c>TrainingArguments</c> (names in snake_case when serialised to
/// <c>training_args.json</c>, defaults equal to transformers 4.x's). Early stopping's patience and threshold (the
/// arguments of Hugging Face's <c>EarlyStoppingCallback</c>) are here too.
/// </summary>
public sealed record TrainingArguments
{
    /// <summary><c>output_dir</c>: where checkpoints and the final model go.</summary>
    [JsonPropertyName("output_dir")] public required string OutputDir { get; init; }
    /// <summary><c>overwrite_output_dir</c>: allow an output folder that already holds a run.</summary>
    [JsonPropertyName("overwrite_output_dir")] public bool OverwriteOutputDir { get; init; }
    /// <summary><c>do_train</c>.</summary>
    [JsonPropertyName("do_train")] public bool DoTrain { get; init; }
    /// <summary><c>do_eval</c>; true whenever <see cref="EvalStrategy"/> is not <c>no</c>, as Hugging Face's
    /// <c>TrainingArguments.__post_init__</c> sets it (so an evaluation during training has its validation set).</summary>
    [JsonPropertyName("do_eval")] public bool DoEval { get => _doEval || EvalStrategy != IntervalStrategy.No; init => _doEval = value; }
    private readonly bool _doEval;
    /// <summary><c>do_predict</c>.</summary>
    [JsonPropertyName("do_predict")] public bool DoPredict { get; init; }

    /// <summary><c>learning_rate</c> (5e-5): AdamW's initial learning rate.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 5e-5;
    /// <summary><c>weight_decay</c> (0): decoupled weight decay for every weight except biases and LayerNorm weights.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; }
    /// <summary><c>adam_beta1</c> (0.9).</summary>
    [JsonPropertyName("adam_beta1")] public double AdamBeta1 { get; init; } = 0.9;
    /// <summary><c>adam_beta2</c> (0.999).</summary>
    [JsonPropertyName("adam_beta2")] public double AdamBeta2 { get; init; } = 0.999;
    /// <summary><c>adam_epsilon</c> (1e-8).</summary>
    [JsonPropertyName("adam_epsilon")] public double AdamEpsilon { get; init; } = 1e-8;
    /// <summary><c>max_grad_norm</c> (1.0): gradient clipping by total norm; 0 or less disables it.</summary>
    [JsonPropertyName("max_grad_norm")] public double MaxGradNorm { get; init; } = 1.0;
    /// <summary><c>num_train_epochs</c> (3.0); fractional epochs round the step count up as Hugging Face does.</summary>
    [JsonPropertyName("num_train_epochs")] public double NumTrainEpochs { get; init; } = 3.0;
    /// <summary><c>max_steps</c> (-1): when positive, the number of optimizer steps, overriding <see cref="NumTrainEpochs"/>.</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = -1;
    /// <summary><c>lr_scheduler_type</c> (linear).</summary>
    [JsonPropertyName("lr_scheduler_type")] public SchedulerType LrSchedulerType { get; init; } = SchedulerType.Linear;
    /// <summary><c>warmup_ratio</c> (0): warmup as a fraction of the total steps, used when <see cref="WarmupSteps"/> is 0.</summary>
    [JsonPropertyName("warmup_ratio")] public double WarmupRatio { get; init; }
    /// <summary><c>warmup_steps</c> (0).</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; }

    /// <summary><c>per_device_train_batch_size</c> (8).</summary>
    [JsonPropertyName("per_device_train_batch_size")] public int PerDeviceTrainBatchSize { get; init; } = 8;
    /// <summary><c>per_device_eval_batch_size</c> (8).</summary>
    [JsonPropertyName("per_device_eval_batch_size")] public int PerDeviceEvalBatchSize { get; init; } = 8;
    /// <summary><c>gradient_accumulation_steps</c> (1): micro-batches per optimizer step; each micro-batch's loss is
    /// divided by the number of micro-batches in its group (the last group of an epoch may be shorter).</summary>
    [JsonPropertyName("gradient_accumulation_steps")] public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary><c>dataloader_drop_last</c>: drop the last incomplete training batch of each epoch.</summary>
    [JsonPropertyName("dataloader_drop_last")] public bool DataloaderDropLast { get; init; }

    /// <summary><c>seed</c> (42): seeds torch's global generator before the model is built and training starts.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    /// <summary><c>data_seed</c>: seed of the shuffling alone (epoch e's order is <c>randperm(n)</c> seeded with data_seed + e); null uses <see cref="Seed"/>.</summary>
    [JsonPropertyName("data_seed")] public int? DataSeed { get; init; }

    /// <summary><c>logging_strategy</c> (steps).</summary>
    [JsonPropertyName("logging_strategy")] public IntervalStrategy LoggingStrategy { get; init; } = IntervalStrategy.Steps;
    /// <summary><c>logging_steps</c> (500); a value below 1 is a fraction of the total steps.</summary>
    [JsonPropertyName("logging_steps")] public double LoggingSteps { get; init; } = 500;
    /// <summary><c>logging_first_step</c>: also log after the first optimizer step.</summary>
    [JsonPropertyName("logging_first_step")] public bool LoggingFirstStep { get; init; }
    /// <summary><c>logging_nan_inf_filter</c> (true): a NaN/inf step loss is replaced by the running mean in the logged loss.</summary>
    [JsonPropertyName("logging_nan_inf_filter")] public bool LoggingNanInfFilter { get; init; } = true;

    /// <summary><c>eval_strategy</c> (no): when to evaluate during training.</summary>
    [JsonPropertyName("eval_strategy")] public IntervalStrategy EvalStrategy { get; init; } = IntervalStrategy.No;
    /// <summary><c>eval_steps</c>: null uses <see cref="LoggingSteps"/>; a value below 1 is a fraction of the total steps.</summary>
    [JsonPropertyName("eval_steps")] public double? EvalSteps { get; init; }
    /// <summary><c>eval_delay</c> (0): steps or epochs to wait before the first evaluation.</summary>
    [JsonPropertyName("eval_delay")] public double EvalDelay { get; init; }

    /// <summary><c>save_strategy</c> (steps).</summary>
    [JsonPropertyName("save_strategy")] public IntervalStrategy SaveStrategy { get; init; } = IntervalStrategy.Steps;
    /// <summary><c>save_steps</c> (500); a value below 1 is a fraction of the total steps.</summary>
    [JsonPropertyName("save_steps")] public double SaveSteps { get; init; } = 500;
    /// <summary><c>save_total_limit</c>: keep at most this many checkpoints (the best one is never deleted).</summary>
    [JsonPropertyName("save_total_limit")] public int? SaveTotalLimit { get; init; }

    /// <summary><c>load_best_model_at_end</c>: reload the best checkpoint's weights when training ends.</summary>
    [JsonPropertyName("load_best_model_at_end")] public bool LoadBestModelAtEnd { get; init; }
    /// <summary><c>metric_for_best_model</c>: null means <c>loss</c> when <see cref="LoadBestModelAtEnd"/> is set; the <c>eval_</c> prefix is optional.</summary>
    [JsonPropertyName("metric_for_best_model")] public string? MetricForBestModel { get; init; }
    /// <summary><c>greater_is_better</c>: null means true unless the metric's name ends with <c>loss</c>.</summary>
    [JsonPropertyName("greater_is_better")] public bool? GreaterIsBetter { get; init; }
    /// <summary><c>early_stopping_patience</c> (EarlyStoppingCallback): stop after this many evaluations without improvement; null disables early stopping.</summary>
    [JsonPropertyName("early_stopping_patience")] public int? EarlyStoppingPatience { get; init; }
    /// <summary><c>early_stopping_threshold</c> (EarlyStoppingCallback, 0): how much the metric must improve to count.</summary>
    [JsonPropertyName("early_stopping_threshold")] public double EarlyStoppingThreshold { get; init; }

    /// <summary><c>bf16</c>: mixed precision on the CPU. TorchSharp has no autocast, so the model computes forward and
    /// backward in bfloat16 (its LayerNorm statistics in fp32) while AdamW updates fp32 master weights; checkpoints and
    /// the final model are fp32. Fast where the CPU has avx512_bf16 / AMX.</summary>
    [JsonPropertyName("bf16")] public bool Bf16 { get; init; }
    /// <summary><c>resume_from_checkpoint</c>: a checkpoint folder, or <c>latest</c> for the newest under <see cref="OutputDir"/>.</summary>
    [JsonPropertyName("resume_from_checkpoint")] public string? ResumeFromCheckpoint { get; init; }

    /// <summary><c>metric_for_best_model</c> as it is looked up in evaluation results (<c>eval_</c> prefixed).</summary>
    [JsonIgnore]
    public string? BestMetricKey
    {
        get
        {
            string? m = MetricForBestModel ?? (LoadBestModelAtEnd || EarlyStoppingPatience is not null ? "loss" : null);
            return m is null ? null : m.StartsWith("eval_", StringComparison.Ordinal) ? m : "eval_" + m;
        }
    }

    /// <summary>Whether a larger <see cref="BestMetricKey"/> is better (Hugging Face's rule when unset).</summary>
    [JsonIgnore]
    public bool BestMetricGreaterIsBetter => GreaterIsBetter ?? !(BestMetricKey ?? "eval_loss").EndsWith("loss", StringComparison.Ordinal);

    /// <summary>Warmup steps for a run of <paramref name="totalSteps"/> (Hugging Face's <c>get_warmup_steps</c>).</summary>
    public int GetWarmupSteps(int totalSteps) => WarmupSteps > 0 ? WarmupSteps : (int)Math.Ceiling(totalSteps * WarmupRatio);

    /// <summary>
    /// Checks the values as Hugging Face's <c>TrainingArguments.__post_init__</c> does.
    /// </summary>
    /// <exception cref="ArgumentException">A value is out of range or the combination is invalid; the message names the argument.</exception>
    public void Validate()
    {
        static void Require(bool ok, string name, string detail)
        {
            if (!ok) throw new ArgumentException($"{name}: {detail}", name);
        }
        Require(!string.IsNullOrWhiteSpace(OutputDir), "output_dir", "is required");
        Require(double.IsFinite(LearningRate) && LearningRate >= 0, "learning_rate", $"must be a non-negative number, not {LearningRate}");
        Require(double.IsFinite(WeightDecay) && WeightDecay >= 0, "weight_decay", $"must be a non-negative number, not {WeightDecay}");
        Require(AdamBeta1 is >= 0 and < 1, "adam_beta1", $"must be in [0, 1), not {AdamBeta1}");
        Require(AdamBeta2 is >= 0 and < 1, "adam_beta2", $"must be in [0, 1), not {AdamBeta2}");
        Require(AdamEpsilon >= 0 && double.IsFinite(AdamEpsilon), "adam_epsilon", $"must be a non-negative number, not {AdamEpsilon}");
        Require(double.IsFinite(MaxGradNorm), "max_grad_norm", $"must be a number, not {MaxGradNorm}");
        Require(double.IsFinite(NumTrainEpochs) && NumTrainEpochs >= 0, "num_train_epochs", $"must be a non-negative number, not {NumTrainEpochs}");
        Require(MaxSteps == -1 || MaxSteps > 0, "max_steps", $"must be positive (or -1 for epochs), not {MaxSteps}");
        Require(WarmupRatio is >= 0 and <= 1, "warmup_ratio", $"must be in [0, 1], not {WarmupRatio}");
        Require(WarmupSteps >= 0, "warmup_steps", $"must be >= 0, not {WarmupSteps}");
        Require(PerDeviceTrainBatchSize > 0, "per_device_train_batch_size", $"must be positive, not {PerDeviceTrainBatchSize}");
        Require(PerDeviceEvalBatchSize > 0, "per_device_eval_batch_size", $"must be positive, not {PerDeviceEvalBatchSize}");
        Require(GradientAccumulationSteps > 0, "gradient_accumulation_steps", $"must be positive, not {GradientAccumulationSteps}");
        Require(LoggingSteps > 0 && double.IsFinite(LoggingSteps), "logging_steps", $"must be positive, not {LoggingSteps}");
        Require(LoggingSteps < 1 || LoggingSteps == Math.Floor(LoggingSteps), "logging_steps", $"must be an integer or a fraction below 1, not {LoggingSteps}");
        Require(SaveSteps > 0 && double.IsFinite(SaveSteps), "save_steps", $"must be positive, not {SaveSteps}");
        Require(SaveSteps < 1 || SaveSteps == Math.Floor(SaveSteps), "save_steps", $"must be an integer or a fraction below 1, not {SaveSteps}");
        Require(EvalSteps is null || (EvalSteps > 0 && (EvalSteps < 1 || EvalSteps == Math.Floor(EvalSteps.Value))), "eval_steps", $"must be a positive integer or a fraction below 1, not {EvalSteps}");
        Require(SaveTotalLimit is null || SaveTotalLimit > 0, "save_total_limit", $"must be positive, not {SaveTotalLimit}");
        Require(EarlyStoppingPatience is null || EarlyStoppingPatience > 0, "early_stopping_patience", $"must be positive, not {EarlyStoppingPatience}");
        Require(EarlyStoppingThreshold >= 0, "early_stopping_threshold", $"must be >= 0, not {EarlyStoppingThreshold}");
        if (LoadBestModelAtEnd)
        {
            // __post_init__: "--load_best_model_at_end requires the save and eval strategy to match".
            Require(EvalStrategy != IntervalStrategy.No, "load_best_model_at_end", "requires eval_strategy steps or epoch");
            Require(SaveStrategy == EvalStrategy, "load_best_model_at_end",
                $"requires the save and eval strategy to match, but found save_strategy {Name(SaveStrategy)} and eval_strategy {Name(EvalStrategy)}");
            if (EvalStrategy == IntervalStrategy.Steps)
            {
                double eval = EvalSteps ?? LoggingSteps;
                // __post_init__ compares fractional steps scaled by 1e6 (0.3 and 0.1 are multiples).
                bool multiple = SaveSteps < 1 || eval < 1
                    ? Math.Round(SaveSteps * 1e6) % Math.Round(eval * 1e6) == 0
                    : SaveSteps % eval == 0;
                Require(multiple, "load_best_model_at_end",
                    $"requires save_steps to be a round multiple of eval_steps, but found {SaveSteps} and {eval}");
            }
        }
        if (EarlyStoppingPatience is not null)
            Require(EvalStrategy != IntervalStrategy.No, "early_stopping_patience", "requires eval_strategy steps or epoch (and a validation set)");
    }

    /// <summary>Hugging Face's string for a strategy.</summary>
    public static string Name(IntervalStrategy s) => s switch { IntervalStrategy.No => "no", IntervalStrategy.Steps => "steps", _ => "epoch" };

    /// <summary>Hugging Face's string for a schedule.</summary>
    public static string Name(SchedulerType s) => s switch
    {
        SchedulerType.Linear => "linear",
        SchedulerType.Cosine => "cosine",
        SchedulerType.Constant => "constant",
        SchedulerType.ConstantWithWarmup => "constant_with_warmup",
        _ => "polynomial",
    };

    /// <summary>Parses Hugging Face's strategy names (<c>no</c>, <c>steps</c>, <c>epoch</c>).</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static IntervalStrategy ParseStrategy(string value, string argument) => value switch
    {
        "no" => IntervalStrategy.No,
        "steps" => IntervalStrategy.Steps,
        "epoch" => IntervalStrategy.Epoch,
        _ => throw new ArgumentException($"{argument}: must be no, steps or epoch, not '{value}'", argument),
    };

    /// <summary>Parses Hugging Face's scheduler names.</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static SchedulerType ParseScheduler(string value) => value switch
    {
        "linear" => SchedulerType.Linear,
        "cosine" => SchedulerType.Cosine,
        "constant" => SchedulerType.Constant,
        "constant_with_warmup" => SchedulerType.ConstantWithWarmup,
        "polynomial" => SchedulerType.Polynomial,
        _ => throw new ArgumentException($"lr_scheduler_type: must be linear, cosine, constant, constant_with_warmup or polynomial, not '{value}'", "lr_scheduler_type"),
    };

    /// <summary>The arguments as <c>training_args.json</c> (snake_case keys, Hugging Face's strategy names).</summary>
    public string ToJson()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(this, JsonOptions))!.AsObject();
        node["lr_scheduler_type"] = Name(LrSchedulerType);
        node["logging_strategy"] = Name(LoggingStrategy);
        node["eval_strategy"] = Name(EvalStrategy);
        node["save_strategy"] = Name(SaveStrategy);
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        Converters = { new PythonFloatConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
