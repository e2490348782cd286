using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

/// <summary>
/// <see cref="DataCollatorForLanguageModeling"/> as a <see cref="DataCollator"/> over <see cref="TrainingFeature"/>s:
/// pads and masks each batch, drawing from torch's global generator as Hugging Face's collator does.
/// </summary>
/// <param name="inner">The masked-LM collator.</param>
public sealed class MaskedLMDataCollator(DataCollatorForLanguageModeling inner) : DataCollator
{
    /// <summary>The masked-LM collator.</summary>
    public DataCollatorForLanguageModeling Inner { get; } = inner;

    /// <inheritdoc/>
    public override DebertaInputs Collate(IReadOnlyList<TrainingFeature> features)
    {
        var batch = Inner.Collate([.. features.Select(f => new MlmExample(f.InputIds, f.AttentionMask, f.SpecialTokensMask))]);
        return new DebertaInputs { InputIds = batch.InputIds, AttentionMask = batch.AttentionMask, Labels = batch.Labels };
    }
}

public static partial class FineTuning
{
    // ---------------------------------------------------------------- run_mlm.py

    private static FineTuningResult RunMaskedLM(RunContext c, Action<Trainer>? configure, CancellationToken ct)
    {
        var s = c.Script;
        if (c.Args.DoPredict)
            throw new ArgumentException("masked-lm has no predict phase (run_mlm.py has none): drop do_predict.", "do_predict");
        DataTable? train = s.TrainFile is null ? null : LoadTable(s.TrainFile, "train_file");
        DataTable? validation = s.ValidationFile is null ? null : LoadTable(s.ValidationFile, "validation_file");
        var reference = train ?? validation!;
        bool preTokenized = IsPreTokenized(reference);
        int maxSeqLength = MlmData.ResolveMaxSeqLength(c.Tokenizer, s.MaxSeqLength);
        if (maxSeqLength > c.Config.MaxPositionEmbeddings)
        {
            if (s.MaxSeqLength is not null)
                throw new ArgumentException($"max_seq_length {maxSeqLength} is above the model's max_position_embeddings {c.Config.MaxPositionEmbeddings}.", "max_seq_length");
            maxSeqLength = c.Config.MaxPositionEmbeddings;
        }

        List<TrainingFeature> Features(DataTable table)
        {
            if (preTokenized) return PreTokenized(table, c, DebertaSharp.DebertaHead.MaskedLM);
            string column = s.TextColumnName ?? (table.Columns.Contains("text") ? "text" : table.Columns[0]);
            RequireColumns(table, column);
            var texts = table.Rows.Select(r => TextCell(r, column, table.Path) ?? "").ToList();
            var examples = s.LineByLine
                ? MlmData.TokenizeLineByLine(c.Tokenizer, texts, maxSeqLength, s.PadToMaxLength ?? false)
                : MlmData.TokenizeAndGroup(c.Tokenizer, texts, maxSeqLength);
            if (examples.Count == 0)
                throw new TrainingDataException(table.Path, null, column,
                    s.LineByLine ? "no non-empty lines" : $"fewer tokens than one block of max_seq_length {maxSeqLength}");
            return [.. examples.Select(e => new TrainingFeature { InputIds = e.InputIds, AttentionMask = e.AttentionMask, SpecialTokensMask = e.SpecialTokensMask })];
        }

        List<TrainingFeature>? trainFeatures = null, evalFeatures = null;
        if (validation is null && train is not null && c.Args.DoEval)
        {
            // load_dataset(split="train[:p%]") / "train[p%:]": the first round(n·p/100) rows (Python's rounding) validate.
            int n = train.Rows.Count;
            int cut = (int)Math.Round(n * s.ValidationSplitPercentage / 100.0, MidpointRounding.ToEven);
            var valRows = train.Rows.Take(cut).ToList();
            var trainRows = train.Rows.Skip(cut).ToList();
            if (valRows.Count == 0)
                throw new TrainingDataException(train.Path, null, null, $"validation_split_percentage {s.ValidationSplitPercentage} of {n} rows leaves no validation rows: give validation_file");
            validation = train.WithRows(valRows);
            train = train.WithRows(trainRows);
        }
        else if (validation is null && train is not null && !c.Args.DoEval && s.ValidationSplitPercentage > 0)
        {
            int n = train.Rows.Count;
            int cut = (int)Math.Round(n * s.ValidationSplitPercentage / 100.0, MidpointRounding.ToEven);
            train = train.WithRows(train.Rows.Skip(cut).ToList());
        }
        if (c.Args.DoTrain)
        {
            if (train is null || train.Rows.Count == 0) throw new TrainingDataException(s.TrainFile, null, null, "no training rows");
            trainFeatures = Take(Features(train), s.MaxTrainSamples);
        }
        if (c.Args.DoEval) evalFeatures = Take(Features(validation!), s.MaxEvalSamples);

        using var model = BuildModel(c, c.Config, DebertaSharp.DebertaHead.MaskedLM);
        // compute_metrics: accuracy of the arg-max over the positions the collator chose (labels != -100).
        static IReadOnlyDictionary<string, double> Metrics(EvalPrediction p)
        {
            long correct = 0, total = 0;
            for (int e = 0; e < p.Predictions.Count && p.LabelIds is not null; e++)
            {
                var labels = p.LabelIds[e];
                var pred = p.Predictions[e];
                for (int t = 0; t < labels.Length && t < pred.Length; t++)
                {
                    if (labels[t] == -100) continue;
                    total++;
                    if ((int)pred[t] == labels[t]) correct++;
                }
            }
            return new Dictionary<string, double> { ["accuracy"] = total == 0 ? 0 : correct / (double)total };
        }
        var collator = new MaskedLMDataCollator(new DataCollatorForLanguageModeling(c.Tokenizer, s.MlmProbability));
        using var trainer = NewTrainer(c, model, collator, trainFeatures, evalFeatures, Metrics, configure);
        var written = new List<string>();
        var (trainMetrics, evalMetrics) = TrainAndEvaluate(c, trainer, trainFeatures?.Count ?? 0, evalFeatures?.Count ?? 0, written, ct,
            m =>
            {
                // perplexity = math.exp(eval_loss), inf on overflow.
                if (m.TryGetValue("eval_loss", out double loss)) m["perplexity"] = Math.Exp(loss);
            });
        return new FineTuningResult(trainMetrics, evalMetrics, null, written);
    }
}

internal static class JsonNumbers
{
    /// <summary>A JSON number cell as a double, whatever CLR type holds it.</summary>
    public static double ToDouble(JsonNode node) => node switch
    {
        JsonValue v when v.TryGetValue(out double d) => d,
        JsonValue v when v.TryGetValue(out long l) => l,
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out float f) => f,
        JsonValue v when v.TryGetValue(out System.Text.Json.JsonElement e) && e.ValueKind == System.Text.Json.JsonValueKind.Number => e.GetDouble(),
        _ => throw new FormatException($"not a number: {node.ToJsonString()}"),
    };

    /// <summary>A JSON integer cell as an int.</summary>
    public static int ToInt(JsonNode node)
    {
        double d = ToDouble(node);
        if (d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue) throw new FormatException($"not an integer: {node.ToJsonString()}");
        return (int)d;
    }
}
