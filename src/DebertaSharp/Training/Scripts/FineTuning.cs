using System.Globalization;
using System.Text.Json.Nodes;
using DebertaSharp.Modeling;
using DebertaSharp.Tokenization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Training;

/// <summary>
/// The four fine-tuning scripts of Hugging Face's examples, as a library call: <c>run_glue.py</c>
/// (<see cref="FineTuningTask.TextClassification"/>), <c>run_ner.py</c>, <c>run_mlm.py</c> and <c>run_qa.py</c>. Each
/// reads its data files, builds features as the script does, trains, evaluates and predicts with <see cref="Trainer"/>,
/// and writes the files the script writes into <c>output_dir</c>. Every input is checked before training starts.
/// </summary>
public static partial class FineTuning
{
    /// <summary>Runs one script.</summary>
    /// <param name="task">Which script.</param>
    /// <param name="script">Model and data arguments.</param>
    /// <param name="args">Training arguments (<c>do_train</c>, <c>do_eval</c>, <c>do_predict</c> choose the phases).</param>
    /// <param name="logger">Receives the scripts' informational lines.</param>
    /// <param name="configureTrainer">Called with the trainer before it runs (to follow progress and logs).</param>
    /// <param name="cancellationToken">Stops training after the current step or inside an evaluation (a checkpoint is
    /// saved), or the evaluation and prediction phases before their next batch, and throws.</param>
    /// <exception cref="TrainingDataException">A data file is missing, empty or malformed, or a column or label is wrong.</exception>
    /// <exception cref="ArgumentException">The arguments are inconsistent (the message names the argument).</exception>
    /// <exception cref="IOException">The output folder holds a previous run (without <c>overwrite_output_dir</c> or resuming).</exception>
    public static FineTuningResult Run(FineTuningTask task, ScriptArguments script, TrainingArguments args, ILogger? logger = null,
        Action<Trainer>? configureTrainer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(args);
        args.Validate();
        if (!args.DoTrain && !args.DoEval && !args.DoPredict)
            throw new ArgumentException("Nothing to do: give at least one of do_train, do_eval, do_predict.", nameof(args));
        if (script.ModelNameOrPath is null && script.ConfigName is null)
            throw new ArgumentException("model_name_or_path or config_name is required.", nameof(script));
        if (script.ModelNameOrPath is null && !args.DoTrain)
            throw new ArgumentException("config_name without model_name_or_path builds an untrained model: add do_train.", nameof(script));
        if (args.DoTrain) RequireFile(script.TrainFile, "train_file");
        if (args.DoEval && task != FineTuningTask.MaskedLM) RequireFile(script.ValidationFile, "validation_file");
        if (args.DoEval && task == FineTuningTask.MaskedLM && script.ValidationFile is null && script.TrainFile is null)
            throw new ArgumentException("do_eval needs validation_file (or train_file to split it from).", "validation_file");
        if (args.DoPredict) RequireFile(script.TestFile, "test_file");
        if (script.ValidationSplitPercentage is < 0 or > 100)
            throw new ArgumentException($"validation_split_percentage must be in [0, 100], not {script.ValidationSplitPercentage}", "validation_split_percentage");
        if (script.MlmProbability is <= 0 or >= 1)
            throw new ArgumentException($"mlm_probability must be in (0, 1), not {script.MlmProbability}", "mlm_probability");
        CheckOutputDir(args);

        // set_seed(training_args.seed) before the model is built (the scripts do it first thing).
        random.manual_seed(args.Seed);
        var tokenizer = LoadTokenizer(task, script);
        var config = LoadConfig(script);
        var context = new RunContext(task, script, args, tokenizer, config, logger);
        return task switch
        {
            FineTuningTask.TextClassification => RunTextClassification(context, configureTrainer, cancellationToken),
            FineTuningTask.TokenClassification => RunTokenClassification(context, configureTrainer, cancellationToken),
            FineTuningTask.MaskedLM => RunMaskedLM(context, configureTrainer, cancellationToken),
            FineTuningTask.QuestionAnswering => RunQuestionAnswering(context, configureTrainer, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(task), task, "unknown task"),
        };
    }

    private sealed record RunContext(FineTuningTask Task, ScriptArguments Script, TrainingArguments Args,
        DebertaTokenizerBase? TokenizerOrNull, DebertaConfig Config, ILogger? Logger)
    {
        /// <summary>The tokenizer; only pre-tokenized data can do without one.</summary>
        public DebertaTokenizerBase Tokenizer => TokenizerOrNull ?? throw new ArgumentException(
            $"No tokenizer: {Script.TokenizerName ?? Script.ModelNameOrPath} has no tokenizer.json nor vocab.json + merges.txt (give --tokenizer_name, or pre-tokenized data with input_ids).",
            "tokenizer_name");

        /// <summary>The pad id: the tokenizer's, else config.json's <c>pad_token_id</c>.</summary>
        public int PadTokenId => TokenizerOrNull?.PadTokenId ?? Config.PaddingRow ?? 0;

        /// <summary>The pad token type id.</summary>
        public int PadTokenTypeId => TokenizerOrNull?.PadTokenTypeId ?? 0;
    }

    private static void RequireFile(string? path, string argument)
    {
        if (path is null) throw new ArgumentException($"{argument} is required for this phase.", argument);
        if (Directory.Exists(path)) throw new TrainingDataException(path, null, null, $"{argument} is a directory, not a data file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{argument}: no such file: {path}", path);
    }

    // The scripts' "Detecting last checkpoint" block, except that a previous run is an error instead of an implicit resume.
    private static void CheckOutputDir(TrainingArguments args)
    {
        if (!args.DoTrain || args.OverwriteOutputDir || args.ResumeFromCheckpoint is not null) return;
        if (!Directory.Exists(args.OutputDir)) return;
        if (File.Exists(args.OutputDir)) throw new IOException($"output_dir {args.OutputDir} is a file");
        if (Directory.EnumerateFileSystemEntries(args.OutputDir).Any())
        {
            string? last = Trainer.GetLastCheckpoint(args.OutputDir);
            throw new IOException(last is null
                ? $"Output directory ({args.OutputDir}) already exists and is not empty. Use --overwrite_output_dir to overcome."
                : $"Output directory ({args.OutputDir}) holds a previous run (last checkpoint {last}). Use --resume_from_checkpoint latest to continue it, or --overwrite_output_dir to train again.");
        }
    }

    private static DebertaTokenizerBase? LoadTokenizer(FineTuningTask task, ScriptArguments script)
    {
        string? dir = script.TokenizerName ?? script.ModelNameOrPath;
        if (dir is null)
            throw new ArgumentException("tokenizer_name is required when training from scratch with config_name (the scripts cannot build a tokenizer).", "tokenizer_name");
        // A checkpoint without tokenizer files can still train on pre-tokenized data (checked when the tokenizer is needed).
        if (script.TokenizerName is null && Directory.Exists(dir) && !File.Exists(Path.Combine(dir, "tokenizer.json")) && !File.Exists(Path.Combine(dir, "vocab.json")))
            return null;
        var tokenizer = DebertaTokenizerBase.FromPretrained(dir);
        // run_ner: DeBERTa tokenizers are loaded with add_prefix_space=True for pre-split words.
        if (task == FineTuningTask.TokenClassification) tokenizer.Core.AddPrefixSpace = true;
        return tokenizer;
    }

    private static DebertaConfig LoadConfig(ScriptArguments script)
    {
        string? path = script.ConfigName ?? script.ModelNameOrPath;
        if (path is not null && Directory.Exists(path)) path = Path.Combine(path, "config.json");
        if (path is null || !File.Exists(path)) throw new FileNotFoundException($"config.json not found: {path}", path);
        var config = DebertaConfig.FromFile(path);
        try
        {
            config.Validate();
        }
        catch (DebertaConfigException e) when (e.FilePath is null)
        {
            throw new DebertaConfigException(e.Key, e.Detail, path, e);
        }
        return config;
    }

    /// <summary>The model: the checkpoint's weights (head newly initialised where the checkpoint has none), or built from the config.</summary>
    private static DebertaPreTrainedModel BuildModel(RunContext c, DebertaConfig config, DebertaHead head)
    {
        if (c.Script.ModelNameOrPath is { } dir)
        {
            // transformers 4.x's example scripts call from_pretrained without torch_dtype, which loads float32 whatever the
            // checkpoint stores (a float16 checkpoint trains on float32 weights; --bf16 casts for compute in the Trainer).
            var model = PretrainedLoader.Load(dir, config, head, TorchSharp.torch.ScalarType.Float32, null, new PretrainedLoadOptions
            {
                Log = c.Logger is null ? null : line => c.Logger.LogInformation("{Line}", line),
            });
            if (model.LoadReport?.NewlyInitializedHeadKeys is { Count: > 0 } fresh)
                c.Logger?.LogWarning("Some weights of {Head} were not initialized from the checkpoint at {Dir} and are newly initialized: {Keys}. You should probably TRAIN this model.",
                    DebertaPreTrainedModel.ArchitectureName(head), dir, string.Join(", ", fresh));
            return model;
        }
        return DebertaPreTrainedModel.Create(config, head);
    }

    /// <summary>The sequence length limit: the requested one, which may not exceed the model's positions; above the
    /// tokenizer's limit, that limit (text classification and question answering, as the scripts do).</summary>
    private static int ResolveMaxSeqLength(RunContext c, int defaultLength)
    {
        // Unset: the script's default, capped by the tokenizer's limit and the model's positions (the scripts warn and cap).
        int length = c.Script.MaxSeqLength
            ?? Math.Min(Math.Min(defaultLength, c.TokenizerOrNull?.ModelMaxLength ?? int.MaxValue), c.Config.MaxPositionEmbeddings);
        if (length <= 0) throw new ArgumentException($"max_seq_length must be positive, not {length}", "max_seq_length");
        if (length > c.Config.MaxPositionEmbeddings)
            throw new ArgumentException(
                $"max_seq_length {length} is above the model's max_position_embeddings {c.Config.MaxPositionEmbeddings} ({c.Script.ConfigName ?? c.Script.ModelNameOrPath}).",
                "max_seq_length");
        // run_glue and run_qa warn and use the tokenizer's model_max_length; run_ner passes max_seq_length to the
        // tokenizer as it is (within the model's positions, checked above).
        if (c.TokenizerOrNull?.ModelMaxLength is int tml && length > tml && c.Task != FineTuningTask.TokenClassification)
        {
            c.Logger?.LogWarning("The max_seq_length passed ({Given}) is larger than the maximum length for the model ({Max}). Using max_seq_length={Used}.", length, tml, tml);
            length = tml;
        }
        return length;
    }

    private static DataTable LoadTable(string path, string argument)
    {
        var table = path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? LoadTensorTable(path) : DataFiles.Load(path);
        if (table.Rows.Count == 0) throw new TrainingDataException(path, null, null, $"{argument} has no examples");
        return table;
    }

    private static List<T> Take<T>(List<T> list, int? max) => max is int m && m < list.Count ? list.GetRange(0, m) : list;

    private static Trainer NewTrainer(RunContext c, DebertaPreTrainedModel model, DataCollator collator, List<TrainingFeature>? train,
        List<TrainingFeature>? eval, Func<EvalPrediction, IReadOnlyDictionary<string, double>>? metrics, Action<Trainer>? configure)
    {
        var trainer = new Trainer(model, c.Args, collator, train, eval, c.TokenizerOrNull, metrics, c.Logger);
        configure?.Invoke(trainer);
        return trainer;
    }

    /// <summary>The scripts' train / eval phases; returns (train metrics, eval metrics).</summary>
    private static (IReadOnlyDictionary<string, double>? Train, IReadOnlyDictionary<string, double>? Eval) TrainAndEvaluate(
        RunContext c, Trainer trainer, int trainCount, int evalCount, List<string> written, CancellationToken ct,
        Action<Dictionary<string, double>>? extendEval = null)
    {
        Dictionary<string, double>? trainMetrics = null, evalMetrics = null;
        if (c.Args.DoTrain)
        {
            var result = trainer.Train(c.Args.ResumeFromCheckpoint, ct);
            trainer.SaveModel();
            trainMetrics = new Dictionary<string, double>(result.Metrics) { ["train_samples"] = trainCount };
            Trainer.SaveMetrics(c.Args.OutputDir, "train", trainMetrics);
            trainer.SaveState();
            written.Add(Path.Combine(c.Args.OutputDir, "train_results.json"));
        }
        if (c.Args.DoEval)
        {
            evalMetrics = new Dictionary<string, double>(trainer.Evaluate(cancellationToken: ct));
            extendEval?.Invoke(evalMetrics);
            evalMetrics["eval_samples"] = evalCount;
            if (trainer.State.Epoch is double e) evalMetrics["epoch"] = e;
            Trainer.SaveMetrics(c.Args.OutputDir, "eval", evalMetrics);
            written.Add(Path.Combine(c.Args.OutputDir, "eval_results.json"));
        }
        return (trainMetrics, evalMetrics);
    }

    /// <summary>Writes a text file atomically (temporary file then rename).</summary>
    internal static void WriteText(string path, string text) => AtomicFile.WriteAllText(path, text);

    /// <summary>The value of a JSON cell as a string label (ints and strings; floats as Python prints them).</summary>
    private static string LabelText(JsonNode? node, string file, int line, string column) => node switch
    {
        null => throw new TrainingDataException(file, line, column, "the label is missing (null)"),
        JsonValue v when v.TryGetValue(out string? s) => s!,
        JsonValue v when v.TryGetValue(out long l) => l.ToString(CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue(out int i) => i.ToString(CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue(out bool b) => b ? "True" : "False",
        JsonValue v when v.TryGetValue(out double d) => PythonJson.Float(d),
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number => v.ToJsonString(),
        _ => throw new TrainingDataException(file, line, column, $"a label must be a string or a number, not {node.ToJsonString()}"),
    };

    private static string? TextCell(DataRow row, string column, string file)
    {
        if (!row.Values.TryGetValue(column, out var node) || node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? s)) return s;
        if (node is JsonValue n) return n.ToJsonString();
        throw new TrainingDataException(file, row.Line, column, $"expected text, got {node.ToJsonString()}");
    }

    private static int[] IntArray(JsonNode? node, string file, int line, string column)
    {
        if (node is not JsonArray a) throw new TrainingDataException(file, line, column, "expected a list of integers");
        var result = new int[a.Count];
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is null) throw new TrainingDataException(file, line, column, $"entry {i} is null");
            try { result[i] = JsonNumbers.ToInt(a[i]!); }
            catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
            {
                throw new TrainingDataException(file, line, column, $"entry {i} is not an integer: {a[i]?.ToJsonString() ?? "null"}", e);
            }
        }
        return result;
    }

    /// <summary>Pre-tokenized rows (<c>input_ids</c> and optionally <c>attention_mask</c>, <c>token_type_ids</c>, <c>label</c>/<c>labels</c>, QA positions) used as they are.</summary>
    private static List<TrainingFeature> PreTokenized(DataTable table, RunContext c, DebertaHead head)
    {
        try
        {
            return PreTokenizedRows(table, c, head);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            // A label or position that is not a number: name the file (the row is in the inner message's context).
            throw new TrainingDataException(table.Path, null, null, $"pre-tokenized data: {e.Message}", e);
        }
    }

    private static List<TrainingFeature> PreTokenizedRows(DataTable table, RunContext c, DebertaHead head)
    {
        var list = new List<TrainingFeature>(table.Rows.Count);
        int vocab = c.Config.VocabSize;
        foreach (var row in table.Rows)
        {
            int[] ids = IntArray(row.Values.GetValueOrDefault("input_ids"), table.Path, row.Line, "input_ids");
            if (ids.Length == 0) throw new TrainingDataException(table.Path, row.Line, "input_ids", "is empty");
            if (ids.Length > c.Config.MaxPositionEmbeddings && c.Config.PositionBiasedInput)
                throw new TrainingDataException(table.Path, row.Line, "input_ids", $"has {ids.Length} tokens, more than max_position_embeddings {c.Config.MaxPositionEmbeddings}");
            foreach (int id in ids)
                if (id < 0 || id >= vocab) throw new TrainingDataException(table.Path, row.Line, "input_ids", $"id {id} is outside the vocabulary [0, {vocab})");
            int[]? Optional(string col)
            {
                if (row.Values.GetValueOrDefault(col) is not { } n) return null;
                var a = IntArray(n, table.Path, row.Line, col);
                if (a.Length != ids.Length) throw new TrainingDataException(table.Path, row.Line, col, $"has {a.Length} entries, input_ids {ids.Length}");
                return a;
            }
            var feature = new TrainingFeature { InputIds = ids, AttentionMask = Optional("attention_mask"), TokenTypeIds = Optional("token_type_ids") };
            var labelNode = row.Values.GetValueOrDefault("labels") ?? row.Values.GetValueOrDefault("label");
            string labelCol = row.Values.ContainsKey("labels") ? "labels" : "label";
            switch (head)
            {
                case DebertaHead.SequenceClassification when labelNode is JsonValue lv:
                    double d = JsonNumbers.ToDouble(lv);
                    if (d != Math.Floor(d) || c.Config.NumLabels == 1)
                        feature = feature with { FloatLabels = [(float)d] };
                    else
                    {
                        int label = (int)d;
                        if (label < 0 || label >= c.Config.NumLabels)
                            throw new TrainingDataException(table.Path, row.Line, labelCol, $"class {label} is outside [0, {c.Config.NumLabels})");
                        feature = feature with { Label = label };
                    }
                    break;
                case DebertaHead.SequenceClassification when labelNode is JsonArray la:
                    feature = feature with { FloatLabels = [.. la.Select(x => (float)JsonNumbers.ToDouble(x!))] };
                    break;
                case DebertaHead.TokenClassification or DebertaHead.MaskedLM when labelNode is not null:
                    var tl = IntArray(labelNode, table.Path, row.Line, labelCol);
                    if (tl.Length != ids.Length) throw new TrainingDataException(table.Path, row.Line, labelCol, $"has {tl.Length} entries, input_ids {ids.Length}");
                    int classes = head == DebertaHead.MaskedLM ? c.Config.VocabSize : c.Config.NumLabels;
                    if (tl.FirstOrDefault(x => x != -100 && (x < 0 || x >= classes), -100) is int bad and not -100)
                        throw new TrainingDataException(table.Path, row.Line, labelCol, $"label {bad} is outside [0, {classes}) (and not -100)");
                    feature = feature with { TokenLabels = tl };
                    break;
                case DebertaHead.QuestionAnswering when row.Values.GetValueOrDefault("start_positions") is { } sp:
                    feature = feature with
                    {
                        StartPosition = JsonNumbers.ToInt(sp),
                        EndPosition = row.Values.GetValueOrDefault("end_positions") is { } ep ? JsonNumbers.ToInt(ep)
                            : throw new TrainingDataException(table.Path, row.Line, "end_positions", "is missing"),
                    };
                    break;
            }
            list.Add(feature);
        }
        return list;
    }

    private static bool IsPreTokenized(DataTable table) => table.Columns.Contains("input_ids");

    /// <summary>
    /// A safetensors file of <c>input.*</c> tensors (the layout <c>deberta forward</c> reads and the reference fixtures
    /// use: <c>input.input_ids</c> [B, L], <c>input.attention_mask</c>, <c>input.token_type_ids</c>, <c>input.labels</c>,
    /// <c>input.start_positions</c>, <c>input.end_positions</c>) as pre-tokenized rows, one per batch row.
    /// </summary>
    private static DataTable LoadTensorTable(string path)
    {
        Dictionary<string, TorchSharp.torch.Tensor> tensors;
        try
        {
            tensors = DebertaSharp.Serialization.SafeTensors.Load(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new TrainingDataException(path, null, null, e.Message, e);
        }
        try
        {
            if (!tensors.TryGetValue("input.input_ids", out var ids) || ids.dim() != 2 || ids.is_floating_point())
                throw new TrainingDataException(path, null, "input.input_ids", "needs an integer [B, L] tensor input.input_ids");
            int b = (int)ids.shape[0];
            var names = new[] { "input_ids", "attention_mask", "token_type_ids", "labels", "start_positions", "end_positions" };
            var columns = names.Where(n => tensors.ContainsKey("input." + n)).ToList();
            var types = new Dictionary<string, DataColumnType>(StringComparer.Ordinal);
            var values = new Dictionary<string, JsonNode?[]>(StringComparer.Ordinal);
            foreach (string n in columns)
            {
                var t = tensors["input." + n];
                if (t.shape.Length == 0 || t.shape[0] != b)
                    throw new TrainingDataException(path, null, "input." + n, $"has shape [{string.Join(", ", t.shape)}], not {b} rows");
                bool floating = t.is_floating_point();
                var flat = t.to(floating ? TorchSharp.torch.ScalarType.Float64 : TorchSharp.torch.ScalarType.Int64).contiguous();
                int per = (int)(t.numel() / Math.Max(b, 1));
                var rows = new JsonNode?[b];
                if (floating)
                {
                    double[] data = flat.data<double>().ToArray();
                    for (int r = 0; r < b; r++)
                        rows[r] = t.dim() == 1 ? JsonValue.Create(data[r]) : new JsonArray([.. data.AsSpan(r * per, per).ToArray().Select(x => (JsonNode?)JsonValue.Create(x))]);
                }
                else
                {
                    long[] data = flat.data<long>().ToArray();
                    for (int r = 0; r < b; r++)
                        rows[r] = t.dim() == 1 ? JsonValue.Create(data[r]) : new JsonArray([.. data.AsSpan(r * per, per).ToArray().Select(x => (JsonNode?)JsonValue.Create(x))]);
                }
                values[n] = rows;
                types[n] = t.dim() == 1 ? (floating ? DataColumnType.Float : DataColumnType.Integer) : DataColumnType.List;
                flat.Dispose();
            }
            var list = new List<DataRow>(b);
            for (int r = 0; r < b; r++)
                list.Add(new DataRow(r + 1, columns.ToDictionary(n => n, n => values[n][r], StringComparer.Ordinal)));
            return new DataTable(path, columns, list, types);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
