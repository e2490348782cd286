using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json.Nodes;
using DebertaSharp.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta train text-classification|token-classification|masked-lm|question-answering ...</c>: Hugging Face's
/// <c>run_glue.py</c>, <c>run_ner.py</c>, <c>run_mlm.py</c> and <c>run_qa.py</c> with their argument names, so that a
/// Python command line can be copied (kebab-case aliases work too).
/// </summary>
internal static class TrainCommand
{
    private static readonly string[] Tasks = ["text-classification", "token-classification", "masked-lm", "question-answering"];
    private static readonly string[] Strategies = ["no", "steps", "epoch"];
    private static readonly string[] Schedulers = ["linear", "cosine", "constant", "constant_with_warmup", "polynomial"];
    private static readonly string[] LogLevels = ["debug", "info", "warning", "error", "passive"];

    /// <summary>A Hugging Face bool argument: <c>--flag</c> alone means true; <c>--flag true|false</c> also works.</summary>
    private static Option<bool> Bool(string name, string description, bool defaultValue = false)
    {
        var option = Opt.Create<bool>(name, description);
        option.Arity = ArgumentArity.ZeroOrOne;
        option.DefaultValueFactory = _ => defaultValue;
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return true;
            string v = result.Tokens[0].Value;
            switch (v.ToLowerInvariant())
            {
                case "true" or "1" or "yes" or "y" or "t": return true;
                case "false" or "0" or "no" or "n" or "f": return false;
                default:
                    result.AddError($"{name} must be true or false, not '{v}'");
                    return false;
            }
        };
        return option;
    }

    /// <summary>The <c>train</c> command.</summary>
    internal static Command Build()
    {
        var task = Opt.ChoiceArgument("task", "The script", Tasks);
        var d = new TrainingArguments { OutputDir = "." };   // Hugging Face's defaults, shown in --help
        var s = new ScriptArguments();

        // ModelArguments / DataTrainingArguments.
        var modelName = Opt.Create<string>("--model_name_or_path", "Checkpoint folder to fine-tune (config.json + weights).").WithHelpName("DIR");
        var configName = Opt.Create<string>("--config_name", "config.json (or a folder holding one): with no --model_name_or_path, the model is built from it with random weights (training from scratch).").WithHelpName("FILE_OR_DIR");
        var tokenizerName = Opt.Create<string>("--tokenizer_name", "Tokenizer folder (tokenizer.json, or vocab.json + merges.txt); defaults to --model_name_or_path.").WithHelpName("DIR");
        var outputDir = Opt.Required<string>("--output_dir", "Where checkpoints, the final model and the results files go.").WithHelpName("DIR");
        var trainFile = Opt.Create<string>("--train_file", "Training data: .csv, .tsv, .json/.jsonl (JSON lines), .txt (masked-lm), .conll (token-classification), SQuAD .json (question-answering); or pre-tokenized JSON lines with input_ids.").WithHelpName("FILE");
        var validationFile = Opt.Create<string>("--validation_file", "Evaluation data (same formats).").WithHelpName("FILE");
        var testFile = Opt.Create<string>("--test_file", "Prediction data for --do_predict (same formats; labels optional for text-classification).").WithHelpName("FILE");
        var doTrain = Bool("--do_train", "Train.");
        var doEval = Bool("--do_eval", "Evaluate on --validation_file after training.");
        var doPredict = Bool("--do_predict", "Predict on --test_file and write the predictions file.");
        var maxSeqLength = Opt.PositiveInt("--max_seq_length", "Maximum tokens per example (default: 128 text-classification, the tokenizer's limit token-classification, min(1024, limit) masked-lm, 384 question-answering).");
        var padToMax = Bool("--pad_to_max_length", "Pad every example to --max_seq_length (default: true for text-classification and question-answering, false otherwise).");
        var noPadToMax = Opt.Flag("--no_pad_to_max_length", "Pad each batch to its longest example instead.");
        var overwrite = Bool("--overwrite_output_dir", "Allow an --output_dir that holds a previous run.");
        var maxTrain = Opt.PositiveInt("--max_train_samples", "Use only the first N training examples.");
        var maxEval = Opt.PositiveInt("--max_eval_samples", "Use only the first N evaluation examples.");
        var maxPredict = Opt.PositiveInt("--max_predict_samples", "Use only the first N prediction examples.");
        var taskName = Opt.Create<string>("--task_name", "text-classification: a GLUE task (cola, mnli, mrpc, qnli, qqp, rte, sst2, stsb, wnli), which picks its metrics and names predict_results_<task>.txt; token-classification: the tags column is <task>_tags (default ner).").WithHelpName("NAME");
        var textColumn = Opt.Create<string>("--text_column_name", "token-classification: the words column (default tokens, else the first); masked-lm: the text column (default text, else the first).").WithHelpName("NAME");
        var labelColumn = Opt.Create<string>("--label_column_name", "token-classification: the tags column (default ner_tags, else the second).").WithHelpName("NAME");
        var labelAll = Bool("--label_all_tokens", "token-classification: label every sub-token (B- tags become I-), not only the first of each word.");
        var entityLevel = Bool("--return_entity_level_metrics", "token-classification: report precision/recall/F1 per entity type too (eval_overall_f1, eval_PER_f1, ...).");
        var lineByLine = Bool("--line_by_line", "masked-lm: one example per non-empty line instead of blocks of --max_seq_length tokens.");
        var mlmProbability = Opt.Create("--mlm_probability", "masked-lm: share of tokens masked.", s.MlmProbability);
        var validationSplit = Opt.Create("--validation_split_percentage", "masked-lm: percent of --train_file used for validation when there is no --validation_file.", s.ValidationSplitPercentage);
        var docStride = Opt.Create("--doc_stride", "question-answering: overlap of the windows a long context is split into.", s.DocStride);
        var nBest = Opt.Create("--n_best_size", "question-answering: candidate starts and ends considered.", s.NBestSize);
        var maxAnswer = Opt.Create("--max_answer_length", "question-answering: longest answer in tokens.", s.MaxAnswerLength);
        var v2 = Bool("--version_2_with_negative", "question-answering: SQuAD v2, some questions have no answer.");
        var nullThreshold = Opt.Create("--null_score_diff_threshold", "question-answering (v2): predict no answer when null score - best score > this.", s.NullScoreDiffThreshold);

        // TrainingArguments.
        var lr = Opt.Create("--learning_rate", "AdamW's initial learning rate.", d.LearningRate);
        var wd = Opt.Create("--weight_decay", "Decoupled weight decay (not for biases and LayerNorm weights).", d.WeightDecay);
        var beta1 = Opt.Create("--adam_beta1", "AdamW beta1.", d.AdamBeta1);
        var beta2 = Opt.Create("--adam_beta2", "AdamW beta2.", d.AdamBeta2);
        var eps = Opt.Create("--adam_epsilon", "AdamW epsilon.", d.AdamEpsilon);
        var maxGradNorm = Opt.Create("--max_grad_norm", "Gradient clipping by total norm (0 disables).", d.MaxGradNorm);
        var epochs = Opt.Create("--num_train_epochs", "Epochs (fractions allowed).", d.NumTrainEpochs);
        var maxSteps = Opt.Create("--max_steps", "When positive, the number of optimizer steps (overrides --num_train_epochs).", d.MaxSteps);
        var scheduler = Opt.Choice("--lr_scheduler_type", "Learning-rate schedule.", Schedulers, "linear");
        var warmupRatio = Opt.Create("--warmup_ratio", "Warmup as a fraction of the steps (when --warmup_steps is 0).", d.WarmupRatio);
        var warmupSteps = Opt.Create("--warmup_steps", "Warmup steps.", d.WarmupSteps);
        var trainBatch = Opt.Create("--per_device_train_batch_size", "Training batch size.", d.PerDeviceTrainBatchSize);
        var evalBatch = Opt.Create("--per_device_eval_batch_size", "Evaluation batch size.", d.PerDeviceEvalBatchSize);
        var gas = Opt.Create("--gradient_accumulation_steps", "Micro-batches per optimizer step.", d.GradientAccumulationSteps);
        var dropLast = Bool("--dataloader_drop_last", "Drop the last incomplete training batch of each epoch.");
        var seed = Opt.Create("--seed", "Seed of torch's generator (model init, dropout, masking) and of the shuffling.", d.Seed);
        var dataSeed = Opt.Create<int?>("--data_seed", "Seed of the shuffling alone (default: --seed).");
        var loggingStrategy = Opt.Choice("--logging_strategy", "When to log the training loss.", Strategies, "steps");
        var loggingSteps = Opt.Create("--logging_steps", "Log every N steps (below 1: a fraction of the run).", d.LoggingSteps);
        var loggingFirst = Bool("--logging_first_step", "Also log after the first step.");
        var nanFilter = Bool("--logging_nan_inf_filter", "Replace NaN/inf step losses by the running mean in the logged loss.", true);
        var evalStrategy = Opt.Choice("--eval_strategy", "When to evaluate during training (needs --validation_file).", Strategies, "no");
        evalStrategy.Aliases.Add("--evaluation_strategy");
        evalStrategy.Aliases.Add("--evaluation-strategy");
        var evalSteps = Opt.Create<double?>("--eval_steps", "Evaluate every N steps (default: --logging_steps; below 1: a fraction of the run).");
        var evalDelay = Opt.Create("--eval_delay", "Steps (or epochs) to wait before the first evaluation.", d.EvalDelay);
        var saveStrategy = Opt.Choice("--save_strategy", "When to save a checkpoint.", Strategies, "steps");
        var saveSteps = Opt.Create("--save_steps", "Save every N steps (below 1: a fraction of the run).", d.SaveSteps);
        var saveLimit = Opt.PositiveInt("--save_total_limit", "Keep at most N checkpoints (never deleting the best one).");
        var loadBest = Bool("--load_best_model_at_end", "Reload the best checkpoint when training ends (save and eval strategies must match).");
        var metricForBest = Opt.Create<string>("--metric_for_best_model", "Metric that decides the best checkpoint (default loss), with or without eval_.").WithHelpName("NAME");
        var greater = Bool("--greater_is_better", "Whether a larger metric is better (default: true unless the name ends with loss).");
        var patience = Opt.PositiveInt("--early_stopping_patience", "Stop after N evaluations without improvement (EarlyStoppingCallback).");
        var threshold = Opt.Create("--early_stopping_threshold", "Improvement below this does not count.", d.EarlyStoppingThreshold);
        var bf16 = Bool("--bf16", "bfloat16 mixed precision: forward and backward in bfloat16, AdamW on fp32 master weights; checkpoints and the model stay fp32 (fast with avx512_bf16 / AMX).");
        var resume = Opt.Create<string>("--resume_from_checkpoint", "Continue from a checkpoint folder, or latest for the newest in --output_dir.").WithHelpName("DIR|latest");
        // Flags of Hugging Face's command lines that have no meaning here (no cache, no worker processes, no hub, no
        // reporting integrations): accepted so a copied command line runs, and named on stderr as ignored.
        var ignored = new (string Name, string Why)[]
        {
            ("--report_to", "there are no reporting integrations"), ("--overwrite_cache", "datasets are not cached"),
            ("--cache_dir", "nothing is downloaded"), ("--preprocessing_num_workers", "preprocessing runs in process"),
            ("--dataloader_num_workers", "batches are built in process"), ("--use_fast_tokenizer", "the tokenizer folder decides"),
            ("--save_safetensors", "checkpoints are always safetensors"), ("--trust_remote_code", "no remote code runs"),
            ("--push_to_hub", "nothing is uploaded"), ("--run_name", "there are no reporting integrations"),
        }.Select(x => (Option: (Option)Opt.Create<string>(x.Name, $"Accepted for copied Hugging Face command lines and ignored: {x.Why}."), x.Why)).ToList();
        foreach (var (option, _) in ignored) option.Arity = ArgumentArity.ZeroOrOne;
        var logLevel = Opt.Choice("--log_level", "Which library messages go to stderr (passive: warnings and errors).", LogLevels, "passive");

        var command = new Command("train",
            "Fine-tunes (or pretrains) a DeBERTa model as Hugging Face's example scripts do.\n\n" +
            "text-classification is run_glue.py, token-classification run_ner.py, masked-lm run_mlm.py, question-answering " +
            "run_qa.py: same argument names, same data handling, metrics and output files (train_results.json, " +
            "eval_results.json, all_results.json, trainer_state.json, checkpoint-N/, predictions). A live progress display " +
            "on a terminal; JSON log lines when the output is redirected. Ctrl-C saves a checkpoint and exits 130.")
        {
            task, modelName, configName, tokenizerName, outputDir, trainFile, validationFile, testFile, doTrain, doEval, doPredict,
            maxSeqLength, padToMax, noPadToMax, overwrite, maxTrain, maxEval, maxPredict, taskName, textColumn, labelColumn, labelAll,
            entityLevel, lineByLine, mlmProbability, validationSplit, docStride, nBest, maxAnswer, v2, nullThreshold,
            lr, wd, beta1, beta2, eps, maxGradNorm, epochs, maxSteps, scheduler, warmupRatio, warmupSteps, trainBatch, evalBatch, gas,
            dropLast, seed, dataSeed, loggingStrategy, loggingSteps, loggingFirst, nanFilter, evalStrategy, evalSteps, evalDelay,
            saveStrategy, saveSteps, saveLimit, loadBest, metricForBest, greater, patience, threshold, bf16, resume, logLevel,
        };
        foreach (var (option, _) in ignored) command.Options.Add(option);
        CliApp.SetAction(command, (p, ct) =>
        {
            string kind = p.GetRequiredValue(task);
            foreach (var (option, why) in ignored)
                if (p.GetResult(option) is { Implicit: false })
                    p.InvocationConfiguration.Error.WriteLine($"deberta train: {option.Name} ignored ({why})");
            bool? pad = p.GetValue(noPadToMax) ? false : p.GetResult(padToMax) is { Implicit: false } ? p.GetValue(padToMax) : null;
            // Optional[bool] in TrainingArguments: unset keeps the rule by the metric's name.
            bool? greaterIsBetter = p.GetResult(greater) is { Implicit: false } ? p.GetValue(greater) : null;
            var script = new ScriptArguments
            {
                ModelNameOrPath = p.GetValue(modelName), ConfigName = p.GetValue(configName), TokenizerName = p.GetValue(tokenizerName),
                TrainFile = p.GetValue(trainFile), ValidationFile = p.GetValue(validationFile), TestFile = p.GetValue(testFile),
                MaxSeqLength = p.GetValue(maxSeqLength), PadToMaxLength = pad,
                MaxTrainSamples = p.GetValue(maxTrain), MaxEvalSamples = p.GetValue(maxEval), MaxPredictSamples = p.GetValue(maxPredict),
                TaskName = p.GetValue(taskName), TextColumnName = p.GetValue(textColumn), LabelColumnName = p.GetValue(labelColumn),
                LabelAllTokens = p.GetValue(labelAll), ReturnEntityLevelMetrics = p.GetValue(entityLevel), LineByLine = p.GetValue(lineByLine),
                MlmProbability = p.GetValue(mlmProbability), ValidationSplitPercentage = p.GetValue(validationSplit),
                DocStride = p.GetValue(docStride), NBestSize = p.GetValue(nBest), MaxAnswerLength = p.GetValue(maxAnswer),
                Version2WithNegative = p.GetValue(v2), NullScoreDiffThreshold = p.GetValue(nullThreshold),
            };
            var args = new TrainingArguments
            {
                OutputDir = p.GetRequiredValue(outputDir), OverwriteOutputDir = p.GetValue(overwrite),
                DoTrain = p.GetValue(doTrain), DoEval = p.GetValue(doEval), DoPredict = p.GetValue(doPredict),
                LearningRate = p.GetValue(lr), WeightDecay = p.GetValue(wd), AdamBeta1 = p.GetValue(beta1), AdamBeta2 = p.GetValue(beta2),
                AdamEpsilon = p.GetValue(eps), MaxGradNorm = p.GetValue(maxGradNorm), NumTrainEpochs = p.GetValue(epochs), MaxSteps = p.GetValue(maxSteps),
                LrSchedulerType = TrainingArguments.ParseScheduler(p.GetValue(scheduler)!), WarmupRatio = p.GetValue(warmupRatio), WarmupSteps = p.GetValue(warmupSteps),
                PerDeviceTrainBatchSize = p.GetValue(trainBatch), PerDeviceEvalBatchSize = p.GetValue(evalBatch), GradientAccumulationSteps = p.GetValue(gas),
                DataloaderDropLast = p.GetValue(dropLast), Seed = p.GetValue(seed), DataSeed = p.GetValue(dataSeed),
                LoggingStrategy = TrainingArguments.ParseStrategy(p.GetValue(loggingStrategy)!, "logging_strategy"), LoggingSteps = p.GetValue(loggingSteps),
                LoggingFirstStep = p.GetValue(loggingFirst), LoggingNanInfFilter = p.GetValue(nanFilter),
                EvalStrategy = TrainingArguments.ParseStrategy(p.GetValue(evalStrategy)!, "eval_strategy"), EvalSteps = p.GetValue(evalSteps), EvalDelay = p.GetValue(evalDelay),
                SaveStrategy = TrainingArguments.ParseStrategy(p.GetValue(saveStrategy)!, "save_strategy"), SaveSteps = p.GetValue(saveSteps), SaveTotalLimit = p.GetValue(saveLimit),
                LoadBestModelAtEnd = p.GetValue(loadBest), MetricForBestModel = p.GetValue(metricForBest), GreaterIsBetter = greaterIsBetter,
                EarlyStoppingPatience = p.GetValue(patience), EarlyStoppingThreshold = p.GetValue(threshold), Bf16 = p.GetValue(bf16),
                ResumeFromCheckpoint = p.GetValue(resume),
            };
            try
            {
                args.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException("--" + e.Message);
            }
            var taskKind = kind switch
            {
                "text-classification" => FineTuningTask.TextClassification,
                "token-classification" => FineTuningTask.TokenClassification,
                "masked-lm" => FineTuningTask.MaskedLM,
                _ => FineTuningTask.QuestionAnswering,
            };
            var level = p.GetValue(logLevel) switch
            {
                "debug" => LogLevel.Debug,
                "info" => LogLevel.Information,
                "error" => LogLevel.Error,
                _ => LogLevel.Warning,
            };
            return Run(taskKind, script, args, level, p.InvocationConfiguration.Output, p.InvocationConfiguration.Error, ct);
        });
        return command;
    }

    private static int Run(FineTuningTask task, ScriptArguments script, TrainingArguments args, LogLevel level, TextWriter stdout, TextWriter stderr,
        CancellationToken ct)
    {
        var logger = new WriterLogger(stderr, level);
        bool live = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        FineTuningResult result;
        if (live)
        {
            result = null!;
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    ProgressTask? bar = null;
                    result = FineTuning.Run(task, script, args, logger, trainer =>
                    {
                        trainer.Progress += pr =>
                        {
                            bar ??= ctx.AddTask("training", maxValue: pr.MaxSteps);
                            bar.Value = pr.GlobalStep;
                            bar.Description = string.Create(CultureInfo.InvariantCulture,
                                $"step {pr.GlobalStep}/{pr.MaxSteps} epoch {pr.Epoch:F2} loss {pr.Loss:F4} lr {pr.LearningRate:G3} {pr.SamplesPerSecond:F1} samples/s");
                        };
                        // One bar per kind of run (eval, predict), restarted by each evaluation.
                        var runs = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                        trainer.PredictionProgress += pp =>
                        {
                            if (!runs.TryGetValue(pp.Prefix, out var run)) runs[pp.Prefix] = run = ctx.AddTask(pp.Prefix, maxValue: pp.Batches);
                            run.MaxValue = pp.Batches;
                            run.Value = pp.Batch;
                            run.Description = string.Create(CultureInfo.InvariantCulture, $"{pp.Prefix} batch {pp.Batch}/{pp.Batches}");
                        };
                        trainer.Logged += entry => AnsiConsole.MarkupLine(Markup.Escape(LogLine(entry)));
                    }, ct);
                });
        }
        else
        {
            result = FineTuning.Run(task, script, args, logger, trainer => trainer.Logged += entry => stdout.WriteLine(LogLine(entry)), ct);
        }
        foreach (var (split, metrics) in new[] { ("train", result.TrainMetrics), ("eval", result.EvalMetrics), ("predict", result.PredictMetrics) })
            if (metrics is not null) WriteMetrics(stdout, split, metrics);
        foreach (string f in result.FilesWritten) stderr.WriteLine($"wrote {f}");
        return 0;
    }

    /// <summary>One log entry as the line Hugging Face prints (without step and total_flos), as JSON.</summary>
    internal static string LogLine(JsonObject entry)
    {
        var o = new JsonObject();
        foreach (var (k, v) in entry)
            if (k is not "step" and not "total_flos") o[k] = v?.DeepClone();
        return PythonJson.Serialize(o, indent: 0);
    }

    /// <summary>Hugging Face's <c>log_metrics</c>: <c>***** eval metrics *****</c>, then aligned <c>key = value</c> lines in sorted order.</summary>
    private static void WriteMetrics(TextWriter w, string split, IReadOnlyDictionary<string, double> metrics)
    {
        w.WriteLine($"***** {split} metrics *****");
        var keys = metrics.Keys.Order(StringComparer.Ordinal).ToList();
        int kw = keys.Max(k => k.Length);
        var values = keys.ToDictionary(k => k, k => Format(k, metrics[k]));
        int vw = values.Values.Max(v => v.Length);
        foreach (string k in keys) w.WriteLine($"  {k.PadRight(kw)} = {values[k].PadLeft(vw)}");
    }

    // log_metrics: ints as ints (the counts), flos as f"{int(v) // 10**9}GF", floats rounded to 4 decimals.
    private static string Format(string key, double v)
    {
        if (Trainer.MetricNode(key, v) is JsonValue n && n.TryGetValue(out long count)) return count.ToString(CultureInfo.InvariantCulture);
        if (key.Contains("_flos", StringComparison.Ordinal)) return ((long)v / 1_000_000_000).ToString(CultureInfo.InvariantCulture) + "GF";
        return Math.Round(v, 4).ToString("0.0###", CultureInfo.InvariantCulture);
    }

    /// <summary>A minimal <see cref="ILogger"/> writing <c>level: message</c> lines to a writer.</summary>
    private sealed class WriterLogger(TextWriter writer, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            lock (writer) writer.WriteLine($"{logLevel.ToString().ToLowerInvariant()}: {formatter(state, exception)}");
        }
    }
}
