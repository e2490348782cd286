using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using DebertaSharp.Tokenization;
using Microsoft.Extensions.Logging;

namespace DebertaSharp.Training;

public static partial class FineTuning
{
    // ---------------------------------------------------------------- run_glue.py

    private static FineTuningResult RunTextClassification(RunContext c, Action<Trainer>? configure, CancellationToken ct)
    {
        var s = c.Script;
        if (s.TaskName is { } glue && Array.IndexOf(GlueTasks, glue) < 0)
            throw new ArgumentException($"task_name must be a GLUE task ({string.Join(", ", GlueTasks)}), not '{glue}'", "task_name");
        var (train, validation, test, reference) = LoadSplits(c);
        bool preTokenized = IsPreTokenized(reference);
        int maxSeqLength = ResolveMaxSeqLength(c, 128);
        bool padToMax = s.PadToMaxLength ?? true;

        // Labels: float → regression; otherwise the sorted unique training labels (or the model's own when not training).
        bool regression;
        List<string> labelList;
        var config = c.Config;
        if (preTokenized)
        {
            regression = config.NumLabels == 1 || config.ProblemType == "regression";
            labelList = LabelNames(config);
        }
        else
        {
            if (!reference.Columns.Contains("label"))
                throw new TrainingDataException(reference.Path, null, "label", $"no 'label' column (columns: {string.Join(", ", reference.Columns)})");
            regression = reference.TypeOf("label") == DataColumnType.Float;
            if (regression)
            {
                labelList = [];
            }
            else if (train is not null)
            {
                var labels = train.Rows.Select(r => LabelText(r.Values.GetValueOrDefault("label"), train.Path, r.Line, "label")).Distinct().ToList();
                labelList = SortLabels(labels, train.TypeOf("label") == DataColumnType.Integer);
            }
            else
            {
                labelList = LabelNames(config);
            }
        }
        int numLabels = regression ? 1 : labelList.Count;
        Dictionary<string, int>? labelToId = null;
        if (!preTokenized && !regression)
        {
            labelToId = MatchModelLabels(c, config, labelList) ?? labelList.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
            config = WithLabels(config, labelToId);
        }
        else if (regression && !preTokenized)
        {
            config = config with { NumLabelsValue = 1, Id2Label = null, Label2Id = null };
        }

        // Columns: sentence1/sentence2, else the first one or two non-label columns.
        (string Key1, string? Key2) keys = ("", null);
        if (!preTokenized)
        {
            var nonLabel = reference.Columns.Where(x => x != "label").ToList();
            if (nonLabel.Count == 0) throw new TrainingDataException(reference.Path, null, null, "no text column besides 'label'");
            keys = nonLabel.Contains("sentence1") && nonLabel.Contains("sentence2") ? ("sentence1", "sentence2")
                : nonLabel.Count >= 2 ? (nonLabel[0], nonLabel[1]) : (nonLabel[0], null);
        }
        var options = new EncodeOptions
        {
            Truncation = TruncationStrategy.LongestFirst,
            MaxLength = maxSeqLength,
            Padding = padToMax ? PaddingStrategy.MaxLength : PaddingStrategy.None,
        };
        List<TrainingFeature> Features(DataTable table, bool requireLabels)
        {
            if (preTokenized) return PreTokenized(table, c, DebertaSharp.DebertaHead.SequenceClassification);
            foreach (string col in new[] { keys.Key1, keys.Key2 }.OfType<string>())
                if (!table.Columns.Contains(col)) throw new TrainingDataException(table.Path, null, col, $"missing column (columns: {string.Join(", ", table.Columns)})");
            bool hasLabels = table.Columns.Contains("label");
            if (requireLabels && !hasLabels) throw new TrainingDataException(table.Path, null, "label", "missing column");
            var list = new List<TrainingFeature>(table.Rows.Count);
            foreach (var row in table.Rows)
            {
                string text = TextCell(row, keys.Key1, table.Path) ?? throw new TrainingDataException(table.Path, row.Line, keys.Key1, "the text is missing (null)");
                string? pair = keys.Key2 is null ? null : TextCell(row, keys.Key2, table.Path) ?? throw new TrainingDataException(table.Path, row.Line, keys.Key2, "the text is missing (null)");
                var enc = c.Tokenizer.Encode(text, pair, options);
                var f = new TrainingFeature
                {
                    InputIds = enc.Ids,
                    AttentionMask = enc.AttentionMask,
                    TokenTypeIds = c.Config.TypeVocabSize > 0 ? enc.TypeIds : null,
                };
                if (hasLabels && row.Values.GetValueOrDefault("label") is { } node)
                {
                    if (regression)
                    {
                        double value;
                        try { value = JsonNumbers.ToDouble(node); }
                        catch (FormatException e)
                        {
                            throw new TrainingDataException(table.Path, row.Line, "label", $"the training labels are numbers (regression), but this label is {node.ToJsonString()}", e);
                        }
                        f = f with { FloatLabels = [(float)value] };
                    }
                    else
                    {
                        string label = LabelText(node, table.Path, row.Line, "label");
                        if (label == "-1" && !requireLabels) { list.Add(f); continue; }
                        if (!labelToId!.TryGetValue(label, out int id))
                            throw new TrainingDataException(table.Path, row.Line, "label",
                                $"label '{label}' is not among the training labels ({string.Join(", ", labelList)})");
                        f = f with { Label = id };
                    }
                }
                else if (requireLabels) throw new TrainingDataException(table.Path, row.Line, "label", "the label is missing (null)");
                list.Add(f);
            }
            return list;
        }
        var trainFeatures = c.Args.DoTrain ? Take(Features(train!, true), s.MaxTrainSamples) : null;
        var evalFeatures = validation is null ? null : Take(Features(validation, true), s.MaxEvalSamples);
        var testFeatures = test is null ? null : Take(Features(test, false), s.MaxPredictSamples);

        using var model = BuildModel(c, config, DebertaSharp.DebertaHead.SequenceClassification);
        var id2label = Enumerable.Range(0, model.Config.NumLabels)
            .Select(i => model.Config.Id2Label?.GetValueOrDefault(i.ToString(CultureInfo.InvariantCulture)) ?? labelList.ElementAtOrDefault(i) ?? $"LABEL_{i}").ToArray();
        IReadOnlyDictionary<string, double> Metrics(EvalPrediction p)
        {
            if (regression || model.Config.NumLabels == 1)
            {
                double[] preds = [.. p.Predictions.Select(x => (double)x[0])];
                double[] refs = [.. p.Features.Select(f => (double)(f.FloatLabels?[0] ?? f.Label ?? 0))];
                if (s.TaskName is { } tn) return WithCombined(ClassificationMetrics.Glue(tn, preds, refs));
                return new Dictionary<string, double>
                {
                    ["mse"] = ClassificationMetrics.MeanSquaredError(preds, refs),
                    ["pearson"] = ClassificationMetrics.Pearson(preds, refs),
                    ["spearmanr"] = ClassificationMetrics.Spearman(preds, refs),
                };
            }
            int[] predicted = [.. p.Predictions.Select(ArgMax)];
            int[] gold = [.. p.Features.Select(f => f.Label ?? -1)];
            if (s.TaskName is { } task) return WithCombined(ClassificationMetrics.Glue(task, predicted, gold));
            var m = new Dictionary<string, double>
            {
                ["accuracy"] = ClassificationMetrics.Accuracy(predicted, gold),
                ["f1"] = ClassificationMetrics.F1(predicted, gold, model.Config.NumLabels == 2 ? "binary" : "macro"),
                ["macro_f1"] = ClassificationMetrics.F1(predicted, gold, "macro"),
                ["matthews_correlation"] = ClassificationMetrics.MatthewsCorrelation(predicted, gold),
            };
            return m;
        }
        var collator = new DataCollatorWithPadding(c.PadTokenId, c.PadTokenTypeId);
        using var trainer = NewTrainer(c, model, collator, trainFeatures, evalFeatures, Metrics, configure);
        var written = new List<string>();
        var (trainMetrics, evalMetrics) = TrainAndEvaluate(c, trainer, trainFeatures?.Count ?? 0, evalFeatures?.Count ?? 0, written, ct);
        IReadOnlyDictionary<string, double>? predictMetrics = null;
        if (testFeatures is not null)
        {
            var output = trainer.Predict(testFeatures, "predict", ct);
            var sb = new StringBuilder("index\tprediction\n");
            for (int i = 0; i < output.Predictions.Predictions.Count; i++)
            {
                var row = output.Predictions.Predictions[i];
                sb.Append(i.ToString(CultureInfo.InvariantCulture)).Append('\t')
                  .Append(regression || row.Length == 1 ? row[0].ToString("0.000", CultureInfo.InvariantCulture) : id2label[ArgMax(row)]).Append('\n');
            }
            // run_glue names the file after task_name (Python's str(None) when there is none).
            string path = Path.Combine(c.Args.OutputDir, $"predict_results_{s.TaskName ?? "None"}.txt");
            Directory.CreateDirectory(c.Args.OutputDir);
            WriteText(path, sb.ToString());
            written.Add(path);
            if (testFeatures.All(f => f.HasLabels))
            {
                var m = new Dictionary<string, double>(output.Metrics) { ["predict_samples"] = testFeatures.Count };
                Trainer.SaveMetrics(c.Args.OutputDir, "predict", m);
                written.Add(Path.Combine(c.Args.OutputDir, "predict_results.json"));
                predictMetrics = m;
            }
        }
        return new FineTuningResult(trainMetrics, evalMetrics, predictMetrics, written);
    }

    /// <summary>The label name of each class id: config.json's id2label, else Hugging Face's <c>LABEL_i</c>.</summary>
    private static List<string> LabelNames(DebertaConfig config) =>
        [.. Enumerable.Range(0, config.NumLabels).Select(i => config.Id2Label?.GetValueOrDefault(i.ToString(CultureInfo.InvariantCulture)) ?? $"LABEL_{i}")];

    private static readonly string[] GlueTasks = ["cola", "mnli", "mrpc", "qnli", "qqp", "rte", "sst2", "stsb", "wnli"];

    /// <summary>The data files of the phases asked for; the training file also when labels must come from it.</summary>
    private static (DataTable? Train, DataTable? Validation, DataTable? Test, DataTable Reference) LoadSplits(RunContext c)
    {
        var s = c.Script;
        DataTable? train = s.TrainFile is not null && (c.Args.DoTrain || s.ValidationFile is null) ? LoadTable(s.TrainFile, "train_file") : null;
        DataTable? validation = c.Args.DoEval ? LoadTable(s.ValidationFile!, "validation_file") : null;
        DataTable? test = c.Args.DoPredict ? LoadTable(s.TestFile!, "test_file") : null;
        return (train, validation, test, train ?? validation ?? test!);
    }

    private static IReadOnlyDictionary<string, double> WithCombined(IReadOnlyDictionary<string, double> result)
    {
        if (result.Count <= 1) return result;
        return new Dictionary<string, double>(result) { ["combined_score"] = result.Values.Average() };
    }

    internal static int ArgMax(float[] row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;   // first maximum, as numpy's argmax
        return best;
    }

    private static List<string> SortLabels(List<string> labels, bool numeric) =>
        numeric ? [.. labels.OrderBy(l => long.Parse(l, CultureInfo.InvariantCulture))] : [.. labels.Order(StringComparer.Ordinal)];

    /// <summary>The scripts' reuse of a checkpoint's <c>label2id</c> when its (non-default) names are exactly the data's labels.</summary>
    private static Dictionary<string, int>? MatchModelLabels(RunContext c, DebertaConfig config, List<string> labelList)
    {
        if (c.Script.ModelNameOrPath is null || config.Label2Id is not { Count: > 0 } l2i) return null;
        bool isDefault = l2i.Count == config.NumLabels && l2i.All(kv => kv.Key == $"LABEL_{kv.Value}");
        if (isDefault) return null;
        var byName = l2i.ToDictionary(kv => kv.Key.ToLowerInvariant(), kv => kv.Value, StringComparer.Ordinal);
        if (byName.Keys.Order(StringComparer.Ordinal).SequenceEqual(labelList.Select(x => x.ToLowerInvariant()).Order(StringComparer.Ordinal)))
            return labelList.ToDictionary(l => l, l => byName[l.ToLowerInvariant()], StringComparer.Ordinal);
        c.Logger?.LogWarning("Your model seems to have been trained with labels, but they don't match the dataset: model labels: {Model}, dataset labels: {Data}. Ignoring the model labels as a result.",
            string.Join(", ", l2i.Keys.Order(StringComparer.Ordinal)), string.Join(", ", labelList));
        return null;
    }

    private static DebertaConfig WithLabels(DebertaConfig config, Dictionary<string, int> labelToId) => config with
    {
        NumLabelsValue = labelToId.Count,
        Id2Label = labelToId.ToDictionary(kv => kv.Value.ToString(CultureInfo.InvariantCulture), kv => kv.Key),
        Label2Id = labelToId,
    };

    // ---------------------------------------------------------------- run_ner.py

    private static FineTuningResult RunTokenClassification(RunContext c, Action<Trainer>? configure, CancellationToken ct)
    {
        var s = c.Script;
        var (train, validation, test, reference) = LoadSplits(c);
        bool preTokenized = IsPreTokenized(reference);
        var config = c.Config;
        int maxSeqLength = ResolveMaxSeqLength(c, Math.Min(c.Tokenizer.ModelMaxLength ?? int.MaxValue, config.MaxPositionEmbeddings));
        bool padToMax = s.PadToMaxLength ?? false;

        string textColumn = s.TextColumnName ?? (reference.Columns.Contains("tokens") ? "tokens" : reference.Columns[0]);
        // run_ner: label_column_name, else f"{task_name}_tags" (task_name "ner" by default), else the second column.
        string tagsColumn = $"{s.TaskName ?? "ner"}_tags";
        string labelColumn = s.LabelColumnName ?? (reference.Columns.Contains(tagsColumn) ? tagsColumn
            : reference.Columns.Count > 1 ? reference.Columns[1] : throw new TrainingDataException(reference.Path, null, null, "needs a tokens column and a tags column"));
        List<string> labelList;
        if (preTokenized)
            labelList = LabelNames(config);
        else if (train is not null)
        {
            RequireColumns(train, textColumn, labelColumn);
            var all = new HashSet<string>(StringComparer.Ordinal);
            bool numeric = true;
            foreach (var row in train.Rows)
                foreach (var tag in Tags(row, labelColumn, train.Path))
                {
                    all.Add(tag);
                    numeric &= long.TryParse(tag, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
                }
            labelList = SortLabels([.. all], numeric);
        }
        else
            labelList = LabelNames(config);
        Dictionary<string, int> labelToId = preTokenized
            ? labelList.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal)
            : MatchModelLabelsExact(c, config, labelList) ?? labelList.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
        if (!preTokenized) config = WithLabels(config, labelToId);
        // b_to_i_label: the I- label of each B- label (itself otherwise).
        var bToI = new Dictionary<int, int>();
        foreach (string label in labelList)
        {
            int id = labelToId[label];
            bToI[id] = label.StartsWith("B-", StringComparison.Ordinal) && labelToId.TryGetValue("I-" + label[2..], out int iId) ? iId : id;
        }
        var options = new EncodeOptions
        {
            IsSplitIntoWords = true,
            Truncation = TruncationStrategy.LongestFirst,
            MaxLength = maxSeqLength,
            Padding = padToMax ? PaddingStrategy.MaxLength : PaddingStrategy.None,
        };
        List<TrainingFeature> Features(DataTable table)
        {
            if (preTokenized) return PreTokenized(table, c, DebertaSharp.DebertaHead.TokenClassification);
            RequireColumns(table, textColumn, labelColumn);
            var list = new List<TrainingFeature>(table.Rows.Count);
            foreach (var row in table.Rows)
            {
                var words = Tags(row, textColumn, table.Path);
                var tags = Tags(row, labelColumn, table.Path);
                if (words.Count != tags.Count)
                    throw new TrainingDataException(table.Path, row.Line, labelColumn, $"has {tags.Count} tags for {words.Count} tokens");
                var enc = c.Tokenizer.Encode(words, null, options);
                var labels = new int[enc.Length];
                int? previous = null;
                for (int i = 0; i < enc.Length; i++)
                {
                    int? w = enc.WordIds[i];
                    if (w is null) labels[i] = -100;
                    else
                    {
                        if (!labelToId.TryGetValue(tags[w.Value], out int id))
                            throw new TrainingDataException(table.Path, row.Line, labelColumn,
                                $"tag '{tags[w.Value]}' is not among the training labels ({string.Join(", ", labelList)})");
                        labels[i] = w != previous ? id : s.LabelAllTokens ? bToI[id] : -100;
                    }
                    previous = w;
                }
                list.Add(new TrainingFeature
                {
                    InputIds = enc.Ids,
                    AttentionMask = enc.AttentionMask,
                    TokenTypeIds = c.Config.TypeVocabSize > 0 ? enc.TypeIds : null,
                    TokenLabels = labels,
                });
            }
            return list;
        }
        var trainFeatures = c.Args.DoTrain ? Take(Features(train!), s.MaxTrainSamples) : null;
        var evalFeatures = validation is null ? null : Take(Features(validation), s.MaxEvalSamples);
        var testFeatures = test is null ? null : Take(Features(test), s.MaxPredictSamples);

        using var model = BuildModel(c, config, DebertaSharp.DebertaHead.TokenClassification);
        var id2label = LabelNames(model.Config).ToArray();
        // compute_metrics: arg-max per token, positions labelled -100 dropped, seqeval on label names.
        (List<IReadOnlyList<string>> Pred, List<IReadOnlyList<string>> Gold) Align(EvalPrediction p)
        {
            var pred = new List<IReadOnlyList<string>>();
            var gold = new List<IReadOnlyList<string>>();
            for (int e = 0; e < p.Features.Count; e++)
            {
                var logits = p.Predictions[e];
                int[] labels = p.Features[e].TokenLabels
                    ?? throw new TrainingDataException(null, e + 1, "labels",
                        "pre-tokenized token-classification data needs per-token labels (-100 where no word starts) to map predictions to words");
                var ps = new List<string>();
                var gs = new List<string>();
                for (int t = 0; t < labels.Length && (t + 1) * p.Width <= logits.Length; t++)
                {
                    if (labels[t] == -100) continue;
                    ps.Add(id2label[ArgMax(logits.AsSpan(t * p.Width, p.Width).ToArray())]);
                    gs.Add(id2label[labels[t]]);
                }
                pred.Add(ps);
                gold.Add(gs);
            }
            return (pred, gold);
        }
        IReadOnlyDictionary<string, double> Metrics(EvalPrediction p)
        {
            var (pred, gold) = Align(p);
            var r = Seqeval.Compute(pred, gold);
            if (s.ReturnEntityLevelMetrics) return Seqeval.ToDictionary(r);
            return new Dictionary<string, double>
            {
                ["precision"] = r.OverallPrecision,
                ["recall"] = r.OverallRecall,
                ["f1"] = r.OverallF1,
                ["accuracy"] = r.OverallAccuracy,
            };
        }
        var collator = new DataCollatorWithPadding(c.PadTokenId, c.PadTokenTypeId);
        using var trainer = NewTrainer(c, model, collator, trainFeatures, evalFeatures, Metrics, configure);
        var written = new List<string>();
        var (trainMetrics, evalMetrics) = TrainAndEvaluate(c, trainer, trainFeatures?.Count ?? 0, evalFeatures?.Count ?? 0, written, ct);
        IReadOnlyDictionary<string, double>? predictMetrics = null;
        if (testFeatures is not null)
        {
            var output = trainer.Predict(testFeatures, "predict", ct);
            var (pred, _) = Align(output.Predictions);
            var sb = new StringBuilder();
            foreach (var line in pred) sb.Append(string.Join(' ', line)).Append('\n');
            string path = Path.Combine(c.Args.OutputDir, "predictions.txt");
            Directory.CreateDirectory(c.Args.OutputDir);
            WriteText(path, sb.ToString());
            written.Add(path);
            var m = new Dictionary<string, double>(output.Metrics) { ["predict_samples"] = testFeatures.Count };
            Trainer.SaveMetrics(c.Args.OutputDir, "predict", m);
            written.Add(Path.Combine(c.Args.OutputDir, "predict_results.json"));
            predictMetrics = m;
        }
        return new FineTuningResult(trainMetrics, evalMetrics, predictMetrics, written);
    }

    /// <summary>run_ner's reuse of the checkpoint's label2id when its names are exactly the data's labels (case kept).</summary>
    private static Dictionary<string, int>? MatchModelLabelsExact(RunContext c, DebertaConfig config, List<string> labelList)
    {
        if (c.Script.ModelNameOrPath is null || config.Label2Id is not { Count: > 0 } l2i) return null;
        if (l2i.Count == config.NumLabels && l2i.All(kv => kv.Key == $"LABEL_{kv.Value}")) return null;
        if (l2i.Keys.Order(StringComparer.Ordinal).SequenceEqual(labelList.Order(StringComparer.Ordinal)))
            return l2i.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        c.Logger?.LogWarning("Your model seems to have been trained with labels, but they don't match the dataset: model labels: {Model}, dataset labels: {Data}. Ignoring the model labels as a result.",
            string.Join(", ", l2i.Keys.Order(StringComparer.Ordinal)), string.Join(", ", labelList));
        return null;
    }

    private static void RequireColumns(DataTable table, params string[] columns)
    {
        foreach (string col in columns)
            if (!table.Columns.Contains(col))
                throw new TrainingDataException(table.Path, null, col, $"missing column (columns: {string.Join(", ", table.Columns)})");
    }

    private static List<string> Tags(DataRow row, string column, string file)
    {
        if (row.Values.GetValueOrDefault(column) is not JsonArray a)
            throw new TrainingDataException(file, row.Line, column, "expected a list");
        var list = new List<string>(a.Count);
        foreach (var x in a) list.Add(LabelText(x, file, row.Line, column));
        return list;
    }
}
