using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DebertaSharp.Serialization;
using DebertaSharp.Tokenization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Training;

/// <summary>What <see cref="Trainer.Train"/> returns (Hugging Face's <c>TrainOutput</c>).</summary>
/// <param name="GlobalStep">Optimizer steps taken.</param>
/// <param name="TrainingLoss">Mean training loss over the run.</param>
/// <param name="Metrics"><c>train_runtime</c>, <c>train_samples_per_second</c>, <c>train_steps_per_second</c>, <c>total_flos</c>, <c>train_loss</c>, <c>epoch</c>.</param>
public sealed record TrainOutput(int GlobalStep, double TrainingLoss, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Predictions of an evaluation or prediction pass, one entry per feature in dataset order, trimmed to the feature's
/// own length: sequence classification <c>[num_labels]</c> logits; token classification <c>[L · num_labels]</c>
/// logits (row-major); question answering start logits <c>[L]</c> (<see cref="EndLogits"/> the end logits); masked LM
/// the arg-max token id of each position <c>[L]</c> (Hugging Face's run_mlm <c>preprocess_logits_for_metrics</c>).
/// </summary>
/// <param name="Features">The features predicted.</param>
/// <param name="Predictions">Per feature, as above.</param>
/// <param name="EndLogits">Question answering end logits per feature; null for other heads.</param>
/// <param name="Width">Values per position: num_labels for token classification, else the row length.</param>
/// <param name="LabelIds">Per-token labels of each feature as the collator built them (token classification and
/// masked LM, whose labels the collator draws), trimmed like the predictions; null for other heads.</param>
public sealed record EvalPrediction(IReadOnlyList<TrainingFeature> Features, IReadOnlyList<float[]> Predictions, IReadOnlyList<float[]>? EndLogits, int Width,
    IReadOnlyList<int[]>? LabelIds = null);

/// <summary>What <see cref="Trainer.Predict"/> returns (Hugging Face's <c>PredictionOutput</c>).</summary>
/// <param name="Predictions">The predictions, see <see cref="EvalPrediction"/>.</param>
/// <param name="Metrics">Prefixed metrics (loss and computed metrics where the features have labels, speed).</param>
public sealed record PredictionOutput(EvalPrediction Predictions, IReadOnlyDictionary<string, double> Metrics);

/// <summary>Progress after each optimizer step.</summary>
/// <param name="GlobalStep">Optimizer steps taken.</param>
/// <param name="MaxSteps">Optimizer steps of the run.</param>
/// <param name="Epoch">Fractional epoch.</param>
/// <param name="Loss">Mean loss of the step's micro-batches.</param>
/// <param name="LearningRate">The learning rate after the scheduler step (what Hugging Face logs).</param>
/// <param name="GradNorm">The gradient norm before clipping, when clipping is on.</param>
/// <param name="SamplesPerSecond">Training examples per second since the run (or resume) started.</param>
/// <param name="Elapsed">Time since the run (or resume) started.</param>
/// <param name="Remaining">Estimated time to the end.</param>
public sealed record TrainerProgress(int GlobalStep, int MaxSteps, double Epoch, double Loss, double LearningRate, double? GradNorm,
    double SamplesPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>Progress of an evaluation or prediction, after each batch.</summary>
/// <param name="Prefix">The metric prefix of the run (<c>eval</c>, <c>predict</c>, ...).</param>
/// <param name="Batch">Batches done.</param>
/// <param name="Batches">Batches in all.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record PredictionProgress(string Prefix, int Batch, int Batches, TimeSpan Elapsed);

/// <summary>
/// Fine-tunes a DeBERTa model as Hugging Face's <c>Trainer</c> (transformers 4.x) does: seeded shuffling identical to
/// accelerate's seedable sampler (epoch e's order is <c>randperm(n)</c> on a generator seeded with seed + e), gradient
/// accumulation, clipping, AdamW without decay for biases and LayerNorm weights, the learning-rate schedules, logging,
/// evaluation and checkpoints (<c>output_dir/checkpoint-N</c>) on the same steps, best-model tracking, early stopping
/// and exact resumption. Cancelling the token stops after the current optimizer step (or inside an evaluation during
/// training) and saves a checkpoint.
/// </summary>
public sealed class Trainer : IDisposable
{
    private static readonly Regex CheckpointName = new(@"^checkpoint-(\d+)$", RegexOptions.CultureInvariant);

    private readonly ILogger? _logger;
    private AdamW? _optimizer;
    // bf16 training: fp32 master weights by parameter name while the model computes in bfloat16.
    private Dictionary<string, Tensor>? _masters;
    private int _schedulerStep;
    private int _warmupSteps;
    private double _totalLossScalar;
    // The loss summed since the last log and that log's step: kept in checkpoints so that a resumed run logs what the
    // uninterrupted one does (Hugging Face restarts both at the checkpoint, so its first log after resuming differs).
    private float _pendingLoss;
    private int _lastLogged;
    // Whether the last step ended its epoch and the end-of-epoch pass has not run yet (kept in checkpoints).
    private bool _epochEndPending;
    // The token of the running Train call, which the evaluations during training observe.
    private CancellationToken _trainingCancellation;
    private double? _lastGradNorm;

    /// <summary>Creates a trainer.</summary>
    /// <param name="model">The model (trained in place).</param>
    /// <param name="args">The training options.</param>
    /// <param name="collator">Builds batches from features.</param>
    /// <param name="trainDataset">Training features (needed by <see cref="Train"/>).</param>
    /// <param name="evalDataset">Evaluation features (needed by <see cref="Evaluate"/> without an argument and by evaluation during training).</param>
    /// <param name="tokenizer">Saved with every checkpoint and the final model when given.</param>
    /// <param name="computeMetrics">Computes task metrics from predictions (Hugging Face's <c>compute_metrics</c>); keys without prefix.</param>
    /// <param name="logger">Receives Hugging Face's informational lines (run summary, checkpoints), and each log-history entry at Debug.</param>
    public Trainer(DebertaPreTrainedModel model, TrainingArguments args, DataCollator collator,
        IReadOnlyList<TrainingFeature>? trainDataset = null, IReadOnlyList<TrainingFeature>? evalDataset = null,
        DebertaTokenizerBase? tokenizer = null, Func<EvalPrediction, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(collator);
        args.Validate();
        if (args.Bf16 && !CpuFeatures.HasBf16) logger?.LogWarning("bf16: {Notice}", CpuFeatures.Bf16EmulatedNotice);
        Model = model;
        Args = args;
        Collator = collator;
        TrainDataset = trainDataset;
        EvalDataset = evalDataset;
        Tokenizer = tokenizer;
        ComputeMetrics = computeMetrics;
        _logger = logger;
        // Trainer.__init__: set_seed(args.seed).
        random.manual_seed(args.Seed);
    }

    /// <summary>The model being trained.</summary>
    public DebertaPreTrainedModel Model { get; }
    /// <summary>The options.</summary>
    public TrainingArguments Args { get; }
    /// <summary>The batch builder.</summary>
    public DataCollator Collator { get; }
    /// <summary>Training features.</summary>
    public IReadOnlyList<TrainingFeature>? TrainDataset { get; }
    /// <summary>Evaluation features.</summary>
    public IReadOnlyList<TrainingFeature>? EvalDataset { get; }
    /// <summary>The tokenizer saved with checkpoints.</summary>
    public DebertaTokenizerBase? Tokenizer { get; }
    /// <summary>The metric function.</summary>
    public Func<EvalPrediction, IReadOnlyDictionary<string, double>>? ComputeMetrics { get; }
    /// <summary>Call <see cref="ComputeMetrics"/> even when the features carry no labels (question answering post-processing).</summary>
    internal bool MetricsNeedNoLabels { get; set; }

    /// <summary>The run's state (<c>trainer_state.json</c>).</summary>
    public TrainerState State { get; private set; } = new();

    /// <summary>Raised for every entry appended to <see cref="TrainerState.LogHistory"/> (training logs, evaluations, the summary).</summary>
    public event Action<JsonObject>? Logged;
    /// <summary>Raised after every optimizer step.</summary>
    public event Action<TrainerProgress>? Progress;
    /// <summary>Raised after each batch of an evaluation or prediction.</summary>
    public event Action<PredictionProgress>? PredictionProgress;
    /// <summary>Raised after a checkpoint folder is complete (its path).</summary>
    public event Action<string>? CheckpointSaved;

    /// <summary>
    /// Runs the training loop (Hugging Face's <c>Trainer.train</c>).
    /// </summary>
    /// <param name="resumeFromCheckpoint">A checkpoint folder to continue from, <c>latest</c> for the newest under
    /// <c>output_dir</c>, or null (defaults to <see cref="TrainingArguments.ResumeFromCheckpoint"/>).</param>
    /// <param name="cancellationToken">Stops after the current optimizer step, or inside an evaluation during training
    /// (before its next batch); a checkpoint is saved (resuming from it runs the interrupted evaluation first), then
    /// <see cref="OperationCanceledException"/> is thrown.</param>
    /// <exception cref="InvalidOperationException">No training data, or a checkpoint that does not fit this run.</exception>
    /// <exception cref="DirectoryNotFoundException">The checkpoint to resume from does not exist.</exception>
    public TrainOutput Train(string? resumeFromCheckpoint = null, CancellationToken cancellationToken = default)
    {
        var train = TrainDataset is { Count: > 0 } t ? t : throw new InvalidOperationException("Trainer.Train needs a non-empty training dataset.");
        resumeFromCheckpoint ??= Args.ResumeFromCheckpoint;
        string? checkpoint = resumeFromCheckpoint is null ? null : ResolveCheckpoint(resumeFromCheckpoint);

        int n = train.Count, batchSize = Args.PerDeviceTrainBatchSize, gas = Args.GradientAccumulationSteps;
        int lenDataloader = Args.DataloaderDropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
        if (lenDataloader == 0)
            throw new InvalidOperationException($"dataloader_drop_last with {n} training examples and per_device_train_batch_size {batchSize} leaves no batch.");
        // Each epoch's batches form ceil(len / gas) optimizer steps, the last group possibly shorter.
        int updatesPerEpoch = Math.Max((lenDataloader + gas - 1) / gas, 1);
        int maxSteps, numEpochs;
        double numTrainSamples;
        if (Args.MaxSteps > 0)
        {
            maxSteps = Args.MaxSteps;
            numEpochs = maxSteps / updatesPerEpoch + (maxSteps % updatesPerEpoch > 0 ? 1 : 0);
            numTrainSamples = (double)maxSteps * batchSize * gas;
        }
        else
        {
            maxSteps = (int)Math.Ceiling(Args.NumTrainEpochs * updatesPerEpoch);
            numEpochs = (int)Math.Ceiling(Args.NumTrainEpochs);
            numTrainSamples = n * Args.NumTrainEpochs;
        }
        if (maxSteps <= 0) throw new InvalidOperationException($"num_train_epochs {Args.NumTrainEpochs} gives no optimizer step.");

        State = new TrainerState
        {
            MaxSteps = maxSteps,
            NumTrainEpochs = numEpochs,
            TrainBatchSize = batchSize,
            LoggingSteps = ResolveSteps(Args.LoggingSteps, maxSteps),
            EvalSteps = ResolveSteps(Args.EvalSteps ?? Args.LoggingSteps, maxSteps),
            SaveSteps = ResolveSteps(Args.SaveSteps, maxSteps),
        };
        _warmupSteps = Args.GetWarmupSteps(maxSteps);
        _optimizer?.Dispose();
        bool wasTraining = Model.training;
        Tensor? savedRng = null;
        var clock = Stopwatch.StartNew();
        float trLoss = 0;
        // Masked LM: the head's 50k-wide product only on the masked rows during training steps (same loss and gradients;
        // evaluation, which model.eval() marks, still gets the full logits).
        var maskedLM = Model as DebertaForMaskedLM;
        if (maskedLM is not null) maskedLM.LogitsAtLabelsOnly = true;
        _trainingCancellation = cancellationToken;
        try
        {
            if (Args.Bf16 && ParameterDtype() == ScalarType.Float32)
            {
                // Mixed precision without autocast: forward and backward in bfloat16 (LayerNorm statistics stay fp32 in the
                // model), AdamW on fp32 master weights, checkpoints and the final model in fp32.
                _masters = Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
                Model.to(ScalarType.BFloat16);
            }
            _optimizer = new AdamW(Model.named_parameters().Select(p => (p.name, p.parameter)), Args.LearningRate, Args.AdamBeta1,
                Args.AdamBeta2, Args.AdamEpsilon, Args.WeightDecay, _masters);
            _schedulerStep = 0;
            _totalLossScalar = 0;
            double nonEmbeddingParameters = Model.named_parameters().Where(p => !p.name.Contains("_embeddings.", StringComparison.Ordinal)).Sum(p => (double)p.parameter.numel());

            int epochsTrained = 0, batchesToSkip = 0;
            bool epochEndPending = false;
            (bool Evaluate, bool Save) stepPending = (false, false);
            if (checkpoint is not null)
            {
                (savedRng, epochEndPending, stepPending) = LoadCheckpoint(checkpoint);
                epochsTrained = State.GlobalStep / updatesPerEpoch;
                batchesToSkip = State.GlobalStep % updatesPerEpoch * gas;
                _logger?.LogInformation("Continuing training from checkpoint {Checkpoint}: epoch {Epoch}, global step {Step}", checkpoint, epochsTrained, State.GlobalStep);
            }
            _logger?.LogInformation("***** Running training *****  examples = {Examples}, epochs = {Epochs}, batch size = {Batch}, accumulation = {Gas}, optimization steps = {Steps}",
                n, numEpochs, batchSize, gas, maxSteps);

            clock.Restart();
            int startStep = State.GlobalStep, lastLogged = checkpoint is null ? State.GlobalStep : _lastLogged;
            trLoss = checkpoint is null ? 0 : _pendingLoss;
            double? gradNorm = checkpoint is null ? null : _lastGradNorm;
            Model.train();
            bool stop = State.GlobalStep >= maxSteps;
            if (stepPending.Evaluate)
            {
                // The checkpoint was taken inside this step's evaluation: run it (and the save due after it) from the
                // generator state before it, then go on from where the uninterrupted run was after it.
                RestoreRng(ref savedRng);
                bool early = MaybeLogSaveEvaluate(false, true, stepPending.Save, ref trLoss, ref lastLogged, gradNorm, out _);
                savedRng = random.get_rng_state();
                // A step that stopped training (early stopping, max_steps) inside its epoch was followed by the epoch's end.
                if ((early || stop) && !epochEndPending) early |= EpochEnd(epochsTrained, ref trLoss, ref lastLogged, gradNorm);
                stop |= early;
            }
            if (epochEndPending && epochsTrained > 0)
            {
                // The checkpoint was taken on its epoch's last step, before that epoch's end-of-epoch log, evaluation
                // and save: run them now, from the checkpoint's generator state, as the uninterrupted run did.
                RestoreRng(ref savedRng);
                stop |= EpochEnd(epochsTrained - 1, ref trLoss, ref lastLogged, gradNorm);
            }
            for (int epoch = epochsTrained; epoch < numEpochs && !stop; epoch++)
            {
                int[] order = EpochOrder(n, (Args.DataSeed ?? Args.Seed) + epoch);
                var batches = new List<int[]>();
                for (int s = 0; s + (Args.DataloaderDropLast ? batchSize : 1) <= n; s += batchSize)
                    batches.Add(order[s..Math.Min(s + batchSize, n)]);
                int stepsInEpoch = batches.Count;
                // Trainer._load_rng_state: the generator continues exactly where the checkpoint left it. A checkpoint
                // at an epoch's end is restored before the next epoch's DataLoader starts; one inside an epoch after
                // it (the uninterrupted run had made that start's draws before the checkpoint).
                int firstBatch = 0;
                bool restore = epoch == epochsTrained && savedRng is not null;
                if (restore && batchesToSkip == 0) RestoreRng(ref savedRng);
                // torch's DataLoader iterator takes an int64 base seed from the global generator when it starts.
                DrawDataLoaderBaseSeed();
                if (restore && batchesToSkip > 0)
                {
                    firstBatch = batchesToSkip;
                    RestoreRng(ref savedRng);
                }
                bool savedThisStep = false;
                for (int groupStart = firstBatch; groupStart < stepsInEpoch; groupStart += gas)
                {
                    int groupEnd = Math.Min(groupStart + gas, stepsInEpoch);
                    int groupSize = groupEnd - groupStart;
                    double stepLoss = 0;
                    for (int b = groupStart; b < groupEnd; b++)
                    {
                        using var scope = NewDisposeScope();
                        var features = batches[b].Select(i => train[i]).ToList();
                        var inputs = Collator.Collate(features);
                        var output = Model.Forward(inputs);
                        var loss = output.Loss ?? throw new InvalidOperationException("The model returned no loss: the training features carry no labels.");
                        // Each micro-batch's mean loss is divided by the number of micro-batches in its group.
                        var scaled = loss / groupSize;
                        scaled.backward();
                        float l = scaled.detach().to(ScalarType.Float32).item<float>();
                        if (Args.LoggingNanInfFilter && !float.IsFinite(l))
                            trLoss += trLoss / (1 + State.GlobalStep - lastLogged);
                        else
                            trLoss += l;
                        stepLoss += l;
                        State.TotalFlos += 6.0 * inputs.InputIds!.numel() * nonEmbeddingParameters;
                    }
                    if (Args.MaxGradNorm > 0)
                        gradNorm = _masters is null
                            ? nn.utils.clip_grad_norm_(Model.parameters().Where(p => p.requires_grad), Args.MaxGradNorm)
                            : ClipGradNormFp32(Args.MaxGradNorm);
                    _lastGradNorm = gradNorm;
                    _optimizer.LearningRate = CurrentLearningRate();
                    _optimizer.Step();
                    _schedulerStep++;
                    _optimizer.ZeroGrad();
                    State.GlobalStep++;
                    State.Epoch = epoch + (groupEnd) / (double)stepsInEpoch;

                    // DefaultFlowCallback.on_step_end.
                    bool shouldLog = (State.GlobalStep == 1 && Args.LoggingFirstStep)
                        || (Args.LoggingStrategy == IntervalStrategy.Steps && State.GlobalStep % State.LoggingSteps == 0);
                    bool shouldEvaluate = Args.EvalStrategy == IntervalStrategy.Steps && State.GlobalStep % State.EvalSteps == 0 && Args.EvalDelay <= State.GlobalStep;
                    bool shouldSave = Args.SaveStrategy == IntervalStrategy.Steps && State.GlobalStep % State.SaveSteps == 0;
                    if (State.GlobalStep >= maxSteps)
                    {
                        stop = true;
                        if (Args.SaveStrategy != IntervalStrategy.No) shouldSave = true;
                    }
                    _pendingLoss = trLoss;
                    _lastLogged = lastLogged;
                    _epochEndPending = groupEnd == stepsInEpoch;
                    stop |= MaybeLogSaveEvaluate(shouldLog, shouldEvaluate, shouldSave, ref trLoss, ref lastLogged, gradNorm, out savedThisStep);

                    var elapsed = clock.Elapsed;
                    int done = State.GlobalStep - startStep;
                    double perStep = elapsed.TotalSeconds / Math.Max(done, 1);
                    Progress?.Invoke(new TrainerProgress(State.GlobalStep, maxSteps, State.Epoch ?? 0, stepLoss, CurrentLearningRate(), gradNorm,
                        done * (double)batchSize * gas / Math.Max(elapsed.TotalSeconds, 1e-9), elapsed,
                        TimeSpan.FromSeconds(perStep * (maxSteps - State.GlobalStep))));

                    if (cancellationToken.IsCancellationRequested)
                    {
                        if (!savedThisStep) SaveCheckpoint();
                        _logger?.LogWarning("Training cancelled at step {Step}; checkpoint saved.", State.GlobalStep);
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    if (stop) break;
                }
                stop |= EpochEnd(epoch, ref trLoss, ref lastLogged, gradNorm);
            }
        }
        finally
        {
            _trainingCancellation = default;
            savedRng?.Dispose();
            if (maskedLM is not null) maskedLM.LogitsAtLabelsOnly = false;
            if (!wasTraining) Model.eval();
            RestoreFullPrecision();   // also when cancelled or failed: the caller gets its fp32 model back
        }
        if (Args.LoadBestModelAtEnd && State.BestModelCheckpoint is { } best && Directory.Exists(best))
        {
            _logger?.LogInformation("Loading best model from {Checkpoint} (score: {Score}).", best, State.BestMetric);
            LoadWeights(best);
        }
        // train(): with save_total_limit 1, every checkpoint but the best one goes once training is over.
        if (Args.SaveTotalLimit == 1 && State.BestModelCheckpoint is { } keep && Directory.Exists(Args.OutputDir))
            foreach (string dir in CheckpointDirs())
                if (Path.GetFullPath(dir) != Path.GetFullPath(keep))
                {
                    _logger?.LogInformation("Deleting older checkpoint {Checkpoint} due to save_total_limit", dir);
                    Directory.Delete(dir, recursive: true);
                }
        _totalLossScalar += trLoss;
        double trainLoss = _totalLossScalar / Math.Max(State.GlobalStep, 1);
        double runtime = Math.Round(clock.Elapsed.TotalSeconds, 4);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["train_runtime"] = runtime,
            ["train_samples_per_second"] = Math.Round(numTrainSamples / Math.Max(runtime, 1e-9), 3),
            ["train_steps_per_second"] = Math.Round(maxSteps / Math.Max(runtime, 1e-9), 3),
            ["total_flos"] = State.TotalFlos,
            ["train_loss"] = trainLoss,
        };
        Log(metrics);
        metrics["epoch"] = State.Epoch ?? 0;
        return new TrainOutput(State.GlobalStep, trainLoss, metrics);
    }

    /// <summary>The learning rate of the next optimizer step (what Hugging Face logs as <c>learning_rate</c>).</summary>
    private double CurrentLearningRate() =>
        LearningRateSchedules.LearningRate(Args.LrSchedulerType, Args.LearningRate, _schedulerStep, _warmupSteps, State.MaxSteps);

    /// <summary>torch's <c>clip_grad_norm_</c> with the total norm computed in fp32 (bf16 gradients).</summary>
    private double ClipGradNormFp32(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var grads = Model.parameters().Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0;
        var norms = stack(grads.Select(g => linalg.vector_norm(g.to(ScalarType.Float32))).ToArray());
        double total = linalg.vector_norm(norms).item<float>();
        double coef = Math.Min(maxNorm / (total + 1e-6), 1.0);
        if (coef < 1.0) foreach (var g in grads) g.mul_(coef);
        return total;
    }

    /// <summary>After bf16 training: the model back in fp32 with the master weights.</summary>
    private void RestoreFullPrecision()
    {
        if (_masters is null) return;
        Model.to(ScalarType.Float32);
        using (no_grad())
            foreach (var (name, p) in Model.named_parameters()) p.copy_(_masters[name]);
        foreach (var t in _masters.Values) t.Dispose();
        _masters = null;
        _optimizer?.Dispose();
        _optimizer = null;
    }

    private static int ResolveSteps(double value, int maxSteps) => value < 1 ? (int)Math.Ceiling(maxSteps * value) : (int)value;

    /// <summary>Epoch e's order: <c>torch.randperm(n, generator=torch.Generator().manual_seed(seed + e))</c>.</summary>
    internal static int[] EpochOrder(int n, long seed)
    {
        using var g = new Generator((ulong)seed);
        using var perm = randperm(n, generator: g);
        return [.. perm.data<long>().ToArray().Select(x => (int)x)];
    }

    private static void RestoreRng(ref Tensor? saved)
    {
        random.set_rng_state(saved!);
        saved!.Dispose();
        saved = null;
    }

    /// <summary>torch's <c>_BaseDataLoaderIter</c> draws <c>torch.empty((), dtype=torch.int64).random_()</c>: two u32 draws.</summary>
    private static void DrawDataLoaderBaseSeed()
    {
        using var t = empty([], ScalarType.Int64);
        t.random_(0, 1L << 62);
    }

    // DefaultFlowCallback.on_epoch_end (eval_delay compared with the epoch reached), then _maybe_log_save_evaluate again.
    private bool EpochEnd(int epoch, ref float trLoss, ref int lastLogged, double? gradNorm)
    {
        _epochEndPending = false;
        double reached = State.Epoch ?? epoch + 1;
        bool evaluate = Args.EvalStrategy == IntervalStrategy.Epoch && Args.EvalDelay <= reached;
        return MaybeLogSaveEvaluate(Args.LoggingStrategy == IntervalStrategy.Epoch, evaluate,
            Args.SaveStrategy == IntervalStrategy.Epoch, ref trLoss, ref lastLogged, gradNorm, out _, endOfEpoch: true);
    }

    // Trainer._maybe_log_save_evaluate. Returns whether early stopping asks to stop.
    private bool MaybeLogSaveEvaluate(bool shouldLog, bool shouldEvaluate, bool shouldSave, ref float trLoss, ref int lastLogged, double? gradNorm, out bool saved,
        bool endOfEpoch = false)
    {
        saved = false;
        bool stop = false;
        if (shouldLog && State.GlobalStep > lastLogged)
        {
            double trLossScalar = trLoss;
            trLoss = 0;
            var logs = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["loss"] = Math.Round(trLossScalar / (State.GlobalStep - lastLogged), 4),
            };
            if (gradNorm is double g) logs["grad_norm"] = g;
            logs["learning_rate"] = CurrentLearningRate();
            _totalLossScalar += trLossScalar;
            lastLogged = State.GlobalStep;
            Log(logs);
        }
        _pendingLoss = trLoss;
        _lastLogged = lastLogged;
        IReadOnlyDictionary<string, double>? metrics = null;
        if (shouldEvaluate)
        {
            using (var rngBefore = random.get_rng_state())
            {
                try
                {
                    metrics = Evaluate(cancellationToken: _trainingCancellation);
                }
                catch (OperationCanceledException) when (_trainingCancellation.IsCancellationRequested)
                {
                    // Cancelled inside the evaluation: a checkpoint from before it (the step's log is done), whose
                    // resume runs the evaluation and the save that follows it, as the uninterrupted run did.
                    // At an epoch's end, the pending end-of-epoch pass does it all again (its log is done, so skipped).
                    random.set_rng_state(rngBefore);
                    if (endOfEpoch) _epochEndPending = true;
                    SaveCheckpoint(stepEvaluationPending: !endOfEpoch, stepSavePending: !endOfEpoch && shouldSave);
                    _logger?.LogWarning("Training cancelled during the evaluation at step {Step}; checkpoint saved (resuming runs that evaluation first).", State.GlobalStep);
                    throw;
                }
            }
            stop = EarlyStoppingCheck(metrics);
            DetermineBestMetric(metrics);
        }
        if (shouldSave)
        {
            SaveCheckpoint();
            saved = true;
        }
        return stop;
    }

    // EarlyStoppingCallback.on_evaluate: compares with the best metric before this evaluation updates it.
    private bool EarlyStoppingCheck(IReadOnlyDictionary<string, double> metrics)
    {
        if (Args.EarlyStoppingPatience is not int patience) return false;
        string key = Args.BestMetricKey!;
        if (!metrics.TryGetValue(key, out double value))
            throw new InvalidOperationException(
                $"early stopping needs metric_for_best_model '{key}', which is not among the evaluation metrics ({string.Join(", ", metrics.Keys.Order(StringComparer.Ordinal))}).");
        bool improved = State.BestMetric is not double best
            || ((Args.BestMetricGreaterIsBetter ? value > best : value < best) && Math.Abs(value - best) > Args.EarlyStoppingThreshold);
        State.EarlyStoppingPatienceCounter = improved ? 0 : State.EarlyStoppingPatienceCounter + 1;
        return State.EarlyStoppingPatienceCounter >= patience;
    }

    // Trainer._determine_best_metric.
    private void DetermineBestMetric(IReadOnlyDictionary<string, double> metrics)
    {
        if (Args.BestMetricKey is not string key) return;
        if (!metrics.TryGetValue(key, out double value))
            throw new InvalidOperationException(
                $"metric_for_best_model '{key}' is not among the evaluation metrics ({string.Join(", ", metrics.Keys.Order(StringComparer.Ordinal))}).");
        if (State.BestMetric is not double best || (Args.BestMetricGreaterIsBetter ? value > best : value < best))
        {
            State.BestMetric = value;
            State.BestGlobalStep = State.GlobalStep;
        }
    }

    /// <summary>Appends an entry to the log history (with <c>epoch</c> and <c>step</c>) and raises <see cref="Logged"/>.</summary>
    private void Log(IReadOnlyDictionary<string, double> logs)
    {
        var entry = new JsonObject();
        foreach (var (k, v) in logs) entry[k] = MetricNode(k, v);
        if (State.Epoch is double e) entry["epoch"] = e;
        entry["step"] = State.GlobalStep;
        State.LogHistory.Add(entry);
        _logger?.LogDebug("{Log}", entry.ToJsonString());   // Debug: the CLI prints Logged entries itself
        Logged?.Invoke(entry);
    }

    /// <summary>
    /// Evaluates the model (Hugging Face's <c>Trainer.evaluate</c>): <c>{prefix}_loss</c> when the features have
    /// labels, the metrics of <see cref="ComputeMetrics"/> prefixed, and speed metrics; the result is also logged.
    /// </summary>
    /// <param name="dataset">Features to evaluate; null uses the trainer's evaluation dataset.</param>
    /// <param name="metricKeyPrefix">Prefix of the metric names.</param>
    /// <param name="cancellationToken">Checked before each batch; <see cref="OperationCanceledException"/> when cancelled.</param>
    public IReadOnlyDictionary<string, double> Evaluate(IReadOnlyList<TrainingFeature>? dataset = null, string metricKeyPrefix = "eval",
        CancellationToken cancellationToken = default)
    {
        var data = dataset ?? EvalDataset ?? throw new InvalidOperationException("Trainer.Evaluate needs an evaluation dataset.");
        var result = RunPrediction(data, metricKeyPrefix, cancellationToken);
        Log(result.Metrics);
        return result.Metrics;
    }

    /// <summary>Runs the model on <paramref name="dataset"/> (Hugging Face's <c>Trainer.predict</c>); nothing is logged.</summary>
    /// <param name="dataset">The features.</param>
    /// <param name="metricKeyPrefix">Prefix of the metric names (the scripts use <c>predict</c>).</param>
    /// <param name="cancellationToken">Checked before each batch; <see cref="OperationCanceledException"/> when cancelled.</param>
    public PredictionOutput Predict(IReadOnlyList<TrainingFeature> dataset, string metricKeyPrefix = "test", CancellationToken cancellationToken = default) =>
        RunPrediction(dataset, metricKeyPrefix, cancellationToken);

    private PredictionOutput RunPrediction(IReadOnlyList<TrainingFeature> data, string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new InvalidOperationException($"No examples to run for '{prefix}'.");
        var clock = Stopwatch.StartNew();
        bool wasTraining = Model.training;
        Model.eval();
        var predictions = new List<float[]>(data.Count);
        List<float[]>? ends = Model.Head == DebertaHead.QuestionAnswering ? new(data.Count) : null;
        List<int[]>? labelIds = Model.Head is DebertaHead.TokenClassification or DebertaHead.MaskedLM ? new(data.Count) : null;
        int width = 1;
        double lossSum = 0;
        int lossCount = 0, steps = 0;
        bool withLabels = data.All(f => f.HasLabels);   // else the collator may still make labels (masked LM)
        // torch's DataLoader iterator takes its base seed from the global generator, as in training.
        DrawDataLoaderBaseSeed();
        try
        {
            using var noGrad = no_grad();
            int batches = (data.Count + Args.PerDeviceEvalBatchSize - 1) / Args.PerDeviceEvalBatchSize;
            for (int s = 0; s < data.Count; s += Args.PerDeviceEvalBatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var features = data.Skip(s).Take(Args.PerDeviceEvalBatchSize).ToList();
                var inputs = Collator.Collate(features);
                var output = Model.Forward(inputs);
                steps++;
                if (labelIds is not null && inputs.Labels is { } lab && lab.dim() == 2)
                {
                    int len = (int)lab.shape[1];
                    long[] all = lab.to(ScalarType.Int64).contiguous().data<long>().ToArray();
                    for (int b = 0; b < features.Count; b++)
                        labelIds.Add([.. all.AsSpan(b * len, Math.Min(features[b].Length, len)).ToArray().Select(x => (int)x)]);
                }
                if (output.Loss is { } loss)
                {
                    // evaluation_loop repeats each batch's mean loss batch-size times, then averages.
                    lossSum += loss.to(ScalarType.Float32).item<float>() * (double)features.Count;
                    lossCount += features.Count;
                }
                switch (output)
                {
                    case SequenceClassifierOutput sc:
                        width = (int)sc.Logits.shape[^1];
                        AddRows(predictions, sc.Logits.reshape(features.Count, -1), features, perPosition: 1, trim: false);
                        break;
                    case TokenClassifierOutput tc:
                        width = (int)tc.Logits.shape[^1];
                        AddRows(predictions, tc.Logits.reshape(features.Count, -1), features, perPosition: width, trim: true);
                        break;
                    case QuestionAnsweringModelOutput qa:
                        AddRows(predictions, qa.StartLogits, features, 1, trim: true);
                        AddRows(ends!, qa.EndLogits, features, 1, trim: true);
                        break;
                    case MaskedLMOutput mlm:
                        AddRows(predictions, mlm.Logits.argmax(-1).to(ScalarType.Float32), features, 1, trim: true);   // [B, L] arg-max ids
                        break;
                    case BaseModelOutput bm:
                        width = (int)bm.LastHiddenState.shape[^1];
                        AddRows(predictions, bm.LastHiddenState.reshape(features.Count, -1), features, width, trim: true);
                        break;
                }
                PredictionProgress?.Invoke(new PredictionProgress(prefix, steps, batches, clock.Elapsed));
            }
        }
        finally
        {
            if (wasTraining) Model.train();
        }
        var prediction = new EvalPrediction(data, predictions, ends, width, labelIds is { Count: > 0 } ? labelIds : null);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (lossCount > 0) metrics[$"{prefix}_loss"] = (float)(lossSum / lossCount);
        if ((withLabels || lossCount > 0 || MetricsNeedNoLabels) && ComputeMetrics is not null)
            foreach (var (k, v) in ComputeMetrics(prediction))
                metrics[k.StartsWith(prefix + "_", StringComparison.Ordinal) ? k : $"{prefix}_{k}"] = v;
        double runtime = Math.Round(clock.Elapsed.TotalSeconds, 4);
        metrics[$"{prefix}_runtime"] = runtime;
        metrics[$"{prefix}_samples_per_second"] = Math.Round(data.Count / Math.Max(runtime, 1e-9), 3);
        metrics[$"{prefix}_steps_per_second"] = Math.Round(steps / Math.Max(runtime, 1e-9), 3);
        return new PredictionOutput(prediction, metrics);
    }

    private static void AddRows(List<float[]> target, Tensor values, IReadOnlyList<TrainingFeature> features, int perPosition, bool trim)
    {
        var v = values.detach().to(ScalarType.Float32).contiguous();   // [B, L · perPosition] or [B, C]
        int rowLength = (int)(v.numel() / features.Count);
        float[] all = v.data<float>().ToArray();
        for (int b = 0; b < features.Count; b++)
        {
            int take = trim ? Math.Min(features[b].Length * perPosition, rowLength) : rowLength;
            target.Add(all.AsSpan(b * rowLength, take).ToArray());
        }
    }

    /// <summary>Saves the model (and tokenizer) to <paramref name="dir"/> (default <c>output_dir</c>), as <c>save_model</c>.</summary>
    public void SaveModel(string? dir = null)
    {
        dir ??= Args.OutputDir;
        Directory.CreateDirectory(dir);
        Model.SavePretrained(dir, _masters);
        Tokenizer?.SavePretrained(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "training_args.json"), Args.ToJson());
    }

    /// <summary>Writes <c>trainer_state.json</c> to <c>output_dir</c> (Hugging Face's <c>save_state</c>).</summary>
    public void SaveState()
    {
        Directory.CreateDirectory(Args.OutputDir);
        AtomicFile.WriteAllText(Path.Combine(Args.OutputDir, "trainer_state.json"), State.ToJson(Args));
    }

    /// <summary>
    /// Writes <c>{split}_results.json</c> and merges the metrics into <c>all_results.json</c> in <c>output_dir</c>
    /// (Hugging Face's <c>save_metrics(split, metrics, combined=True)</c>: indent 4, sorted keys).
    /// </summary>
    /// <exception cref="InvalidDataException">An existing <c>all_results.json</c> is not a JSON object (it is left as it is).</exception>
    public static void SaveMetrics(string outputDir, string split, IReadOnlyDictionary<string, double> metrics)
    {
        Directory.CreateDirectory(outputDir);
        string allPath = Path.Combine(outputDir, "all_results.json");
        JsonObject all = new();
        if (File.Exists(allPath))
        {
            // save_metrics json.load()s the file: one that is not a JSON object is an error (its metrics are not dropped).
            try { all = JsonNode.Parse(File.ReadAllText(allPath)) as JsonObject ?? throw new InvalidDataException($"{allPath}: not a JSON object; move it away to write the {split} metrics"); }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{allPath}: not valid JSON ({e.Message}); move it away to write the {split} metrics", e); }
        }
        var o = new JsonObject();
        foreach (var (k, v) in metrics) o[k] = MetricNode(k, v);
        AtomicFile.WriteAllText(Path.Combine(outputDir, $"{split}_results.json"), PythonJson.Serialize(o, 4, sortKeys: true));
        foreach (var (k, v) in metrics) all[k] = MetricNode(k, v);
        AtomicFile.WriteAllText(allPath, PythonJson.Serialize(all, 4, sortKeys: true));
    }

    /// <summary>A metric as Python holds it: counts (<c>*_samples</c>, <c>*_total</c>, seqeval's <c>*_number</c>) are ints, the rest floats.</summary>
    internal static JsonNode MetricNode(string key, double value) =>
        value == Math.Floor(value) && Math.Abs(value) < 1e15
        && (key.EndsWith("_samples", StringComparison.Ordinal) || key.EndsWith("_total", StringComparison.Ordinal)
            || key.EndsWith("_number", StringComparison.Ordinal) || key == "total")
            ? JsonValue.Create((long)value)
            : JsonValue.Create(value);

    /// <summary>The newest <c>checkpoint-N</c> folder under <paramref name="outputDir"/>, or null (Hugging Face's <c>get_last_checkpoint</c>).</summary>
    public static string? GetLastCheckpoint(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return null;
        return Directory.EnumerateDirectories(outputDir)
            .Select(d => (Dir: d, Match: CheckpointName.Match(Path.GetFileName(d))))
            .Where(x => x.Match.Success && File.Exists(Path.Combine(x.Dir, "trainer_state.json")))
            .OrderBy(x => long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture))
            .Select(x => x.Dir)
            .LastOrDefault();
    }

    private string ResolveCheckpoint(string value)
    {
        if (value == "latest")
            return GetLastCheckpoint(Args.OutputDir)
                ?? throw new DirectoryNotFoundException($"resume_from_checkpoint latest: no checkpoint-N folder with a trainer_state.json in {Args.OutputDir}");
        if (!Directory.Exists(value)) throw new DirectoryNotFoundException($"resume_from_checkpoint: no such checkpoint folder: {value}");
        foreach (string f in new[] { "trainer_state.json", "config.json", "optimizer.safetensors", "scheduler.json", "rng_state.safetensors" })
            if (!File.Exists(Path.Combine(value, f)))
                throw new FileNotFoundException($"resume_from_checkpoint: {value} is not a complete checkpoint (no {f})", Path.Combine(value, f));
        return value;
    }

    // Trainer._save_checkpoint: model, tokenizer, optimizer, scheduler, RNG and trainer state into checkpoint-N,
    // written in a temporary folder then renamed, so a crash never leaves a checkpoint that looks complete. The pending
    // flags mark a checkpoint taken when cancellation stopped a step's evaluation: that evaluation, and the save due
    // after it, are still to do (the generator is then saved as it was before the evaluation).
    private void SaveCheckpoint(bool stepEvaluationPending = false, bool stepSavePending = false)
    {
        string name = $"checkpoint-{State.GlobalStep}";
        string final = Path.Combine(Args.OutputDir, name);
        if (State.BestGlobalStep == State.GlobalStep && Args.BestMetricKey is not null) State.BestModelCheckpoint = final;
        Directory.CreateDirectory(Args.OutputDir);
        string tmp = Path.Combine(Args.OutputDir, $".tmp-{name}-{Guid.NewGuid():N}"[..(name.Length + 14)]);
        try
        {
            Directory.CreateDirectory(tmp);
            Model.SavePretrained(tmp, _masters);
            Tokenizer?.SavePretrained(tmp);
            var (tensors, steps) = _optimizer!.StateDict();
            SafeTensors.Save(Path.Combine(tmp, "optimizer.safetensors"), tensors);
            var sched = new JsonObject
            {
                ["last_epoch"] = _schedulerStep,
                ["lr_scheduler_type"] = TrainingArguments.Name(Args.LrSchedulerType),
                ["warmup_steps"] = _warmupSteps,
                ["num_training_steps"] = State.MaxSteps,
                ["base_lr"] = Args.LearningRate,
                ["optimizer_steps"] = new JsonObject(steps.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["total_loss_scalar"] = _totalLossScalar,
                ["pending_loss"] = (double)_pendingLoss,
                ["globalstep_last_logged"] = _lastLogged,
                ["epoch_end_pending"] = _epochEndPending,
                ["step_evaluation_pending"] = stepEvaluationPending,
                ["step_save_pending"] = stepSavePending,
                ["last_grad_norm"] = _lastGradNorm is double gn ? JsonValue.Create(gn) : null,
            };
            File.WriteAllText(Path.Combine(tmp, "scheduler.json"), PythonJson.Serialize(sched, 2, sortKeys: true) + "\n");
            using (var rng = random.get_rng_state())
                SafeTensors.Save(Path.Combine(tmp, "rng_state.safetensors"), new Dictionary<string, Tensor> { ["cpu"] = rng });
            File.WriteAllText(Path.Combine(tmp, "training_args.json"), Args.ToJson());
            File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), State.ToJson(Args));
            if (Directory.Exists(final))
            {
                string old = final + ".old-" + Guid.NewGuid().ToString("N")[..8];
                Directory.Move(final, old);
                Directory.Move(tmp, final);
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(tmp, final);
            }
        }
        catch
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
        _logger?.LogInformation("Saving model checkpoint to {Checkpoint}", final);
        CheckpointSaved?.Invoke(final);
        RotateCheckpoints();
    }

    /// <summary>The <c>checkpoint-N</c> folders of output_dir, by step.</summary>
    private List<string> CheckpointDirs() => [.. Directory.EnumerateDirectories(Args.OutputDir)
        .Select(d => (Dir: d, Match: CheckpointName.Match(Path.GetFileName(d))))
        .Where(x => x.Match.Success)
        .OrderBy(x => long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture))
        .Select(x => x.Dir)];

    // Trainer._rotate_checkpoints: delete the oldest beyond save_total_limit, never the best one.
    private void RotateCheckpoints()
    {
        if (Args.SaveTotalLimit is not int limit) return;
        var sorted = CheckpointDirs();
        string? best = State.BestModelCheckpoint is { } b ? Path.GetFullPath(b) : null;
        int bestIndex = best is null ? -1 : sorted.FindIndex(d => Path.GetFullPath(d) == best);
        if (bestIndex >= 0)
        {
            // Move the best checkpoint to the end of the deletion order (just before the newest).
            string bestDir = sorted[bestIndex];
            for (int i = bestIndex; i < sorted.Count - 2; i++) sorted[i] = sorted[i + 1];
            if (bestIndex < sorted.Count - 1) sorted[^2] = bestDir;
        }
        int effective = limit;
        if (limit == 1 && bestIndex >= 0 && Path.GetFullPath(sorted[^1]) != best) effective = 2;
        int toDelete = Math.Max(0, sorted.Count - effective);
        foreach (string dir in sorted.Take(toDelete))
        {
            _logger?.LogInformation("Deleting older checkpoint {Checkpoint} due to save_total_limit", dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    // Trainer._load_from_checkpoint + _load_optimizer_and_scheduler + TrainerState.load_from_json. Returns the RNG state
    // and whether the checkpoint's epoch still owes its end-of-epoch pass.
    private (Tensor Rng, bool EpochEndPending, (bool Evaluate, bool Save) StepPending) LoadCheckpoint(string checkpoint)
    {
        var saved = TrainerState.Load(Path.Combine(checkpoint, "trainer_state.json"));
        // Hugging Face sets state.max_steps from the new arguments after the load ("in case the training arguments
        // changed"): a resumed run may stop earlier or later, and the schedule continues towards the new max_steps.
        if (saved.MaxSteps != State.MaxSteps)
            _logger?.LogWarning("{Checkpoint}: the checkpoint's run had max_steps {Saved}; this one runs to {MaxSteps} (the learning-rate schedule follows the new value).",
                checkpoint, saved.MaxSteps, State.MaxSteps);
        string optimizerPath = Path.Combine(checkpoint, "optimizer.safetensors");
        var schedPath = Path.Combine(checkpoint, "scheduler.json");
        // Every field is read before anything is loaded, so a damaged file names its key and changes nothing.
        JsonObject sched;
        try
        {
            sched = JsonNode.Parse(File.ReadAllText(schedPath))!.AsObject();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{schedPath}: not a valid scheduler state: {e.Message}", e);
        }
        T? Field<T>(string key, bool required = false) where T : struct
        {
            try
            {
                if (sched[key] is null)
                    return required ? throw new InvalidDataException($"{schedPath}: '{key}' is missing") : null;
                return sched[key]!.GetValue<T>();
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{schedPath}: '{key}' is {sched[key]!.ToJsonString()}, not a {typeof(T).Name}", e);
            }
        }
        var steps = new Dictionary<string, long>(StringComparer.Ordinal);
        if (sched["optimizer_steps"] is { } stepsNode and not JsonObject)
            throw new InvalidDataException($"{schedPath}: 'optimizer_steps' is {stepsNode.ToJsonString()}, not an object");
        foreach (var (k, v) in sched["optimizer_steps"]?.AsObject() ?? [])
        {
            try { steps[k] = v?.GetValue<long>() ?? throw new InvalidOperationException("null"); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{schedPath}: 'optimizer_steps.{k}' is {v?.ToJsonString() ?? "null"}, not a step count", e);
            }
        }
        int schedulerStep = Field<int>("last_epoch", required: true)!.Value;
        double totalLoss = Field<double>("total_loss_scalar") ?? 0;
        float pendingLoss = (float)(Field<double>("pending_loss") ?? 0);
        int lastLogged = Field<int>("globalstep_last_logged") ?? saved.GlobalStep;
        double? lastGradNorm = Field<double>("last_grad_norm");
        bool epochEndPending = Field<bool>("epoch_end_pending") ?? false;
        (bool, bool) stepPending = (Field<bool>("step_evaluation_pending") ?? false, Field<bool>("step_save_pending") ?? false);
        LoadWeights(checkpoint);
        using (var scope = NewDisposeScope())
        {
            var tensors = SafeTensors.Load(optimizerPath);
            _optimizer!.LoadStateDict(tensors, steps, optimizerPath);
        }
        _schedulerStep = schedulerStep;
        _totalLossScalar = totalLoss;
        _pendingLoss = pendingLoss;
        _lastLogged = lastLogged;
        _lastGradNorm = lastGradNorm;
        State.GlobalStep = saved.GlobalStep;
        State.Epoch = saved.Epoch;
        State.TotalFlos = saved.TotalFlos;
        State.BestMetric = saved.BestMetric;
        State.BestModelCheckpoint = saved.BestModelCheckpoint;
        State.BestGlobalStep = saved.BestGlobalStep;
        State.EarlyStoppingPatienceCounter = saved.EarlyStoppingPatienceCounter;
        State.LogHistory.AddRange(saved.LogHistory);
        var rng = SafeTensors.Load(Path.Combine(checkpoint, "rng_state.safetensors"));
        if (!rng.TryGetValue("cpu", out var state))
            throw new InvalidDataException($"{Path.Combine(checkpoint, "rng_state.safetensors")}: no 'cpu' generator state");
        foreach (var (k, v) in rng) if (k != "cpu") v.Dispose();
        return (state, epochEndPending, stepPending);
    }

    private void LoadWeights(string checkpoint)
    {
        using var loaded = DebertaPreTrainedModel.FromPretrained(checkpoint, dtype: _masters is null ? ParameterDtype() : ScalarType.Float32, head: Model.Head);
        var source = loaded.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var (name, p) in Model.named_parameters())
        {
            if (!source.TryGetValue(name, out var src))
                throw new InvalidDataException($"{checkpoint}: the checkpoint has no weight '{name}'");
            p.copy_(src);
            _masters?[name].copy_(src);
        }
    }

    private ScalarType ParameterDtype() => Model.parameters().First().dtype;

    /// <summary>Releases the optimizer state.</summary>
    public void Dispose()
    {
        _optimizer?.Dispose();
        _optimizer = null;
    }
}
