using System.Text.Json.Nodes;

namespace DebertaSharp.Training;

public static partial class FineTuning
{
    // ---------------------------------------------------------------- run_qa.py (QuestionAnsweringTrainer + utils_qa)

    private static FineTuningResult RunQuestionAnswering(RunContext c, Action<Trainer>? configure, CancellationToken ct)
    {
        var s = c.Script;
        int maxSeqLength = ResolveMaxSeqLength(c, 384);
        bool padToMax = s.PadToMaxLength ?? true;
        if (s.DocStride >= maxSeqLength)
            throw new ArgumentException($"doc_stride {s.DocStride} must be smaller than max_seq_length {maxSeqLength}.", "doc_stride");
        if (s.DocStride < 0) throw new ArgumentException($"doc_stride must not be negative, not {s.DocStride}.", "doc_stride");
        // Checked here, before training, rather than at the first evaluation (where utils_qa.py fails: a negative size
        // slices the candidates backwards, and with none at all a v2 run has no best non-null answer to pick).
        if (s.NBestSize < 0 || s.NBestSize == 0 && s.Version2WithNegative)
            throw new ArgumentException($"n_best_size must be {(s.Version2WithNegative ? "positive with version_2_with_negative" : "0 or more")}, not {s.NBestSize}.", "n_best_size");

        List<QaExample> Examples(string path, int? max)
        {
            var table = DataFiles.LoadSquad(path);
            if (table.Rows.Count == 0) throw new TrainingDataException(path, null, null, "no questions");
            var list = new List<QaExample>(table.Rows.Count);
            foreach (var row in table.Rows)
            {
                string id = TextCell(row, "id", path) ?? throw new TrainingDataException(path, row.Line, "id", "is missing");
                string question = TextCell(row, "question", path) ?? throw new TrainingDataException(path, row.Line, "question", $"question {id}: is missing");
                string context = TextCell(row, "context", path) ?? throw new TrainingDataException(path, row.Line, "context", $"question {id}: is missing");
                var answers = row.Values.GetValueOrDefault("answers") as JsonObject;
                var texts = (answers?["text"] as JsonArray)?.Select(x => x?.GetValue<string>() ?? "").ToList() ?? [];
                var starts = (answers?["answer_start"] as JsonArray)?.Select(x => JsonNumbers.ToInt(x!)).ToList() ?? [];
                list.Add(QaExample.FromCodePointStarts(id, question, context, texts, starts));
            }
            return Take(list, max);
        }
        static TrainingFeature Feature(QaFeature f, bool positions, bool types) => new()
        {
            InputIds = f.InputIds,
            AttentionMask = f.AttentionMask,
            TokenTypeIds = types ? f.TokenTypeIds : null,
            StartPosition = positions ? f.StartPosition : null,
            EndPosition = positions ? f.EndPosition : null,
        };
        bool types = c.Config.TypeVocabSize > 0;

        List<TrainingFeature>? trainFeatures = null;
        // Pre-tokenized windows with start_positions / end_positions (safetensors, or JSON lines with input_ids) are used
        // as they are; a .json file is SQuAD. The table is read once.
        DataTable? preTokenized = c.Args.DoTrain && !s.TrainFile!.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? LoadTable(s.TrainFile, "train_file") : null;
        if (preTokenized is not null && IsPreTokenized(preTokenized))
        {
            trainFeatures = Take(PreTokenized(preTokenized, c, DebertaSharp.DebertaHead.QuestionAnswering), s.MaxTrainSamples);
        }
        else if (c.Args.DoTrain)
        {
            var examples = Examples(s.TrainFile!, s.MaxTrainSamples);
            if (!s.Version2WithNegative && examples.FirstOrDefault(e => e.AnswerTexts.Count == 0) is { } unanswerable)
                throw new TrainingDataException(s.TrainFile, null, "answers",
                    $"question {unanswerable.Id} has no answer: add --version_2_with_negative for SQuAD v2 data");
            var qa = QuestionAnsweringPreprocessing.PrepareTrainFeatures(c.Tokenizer, examples, maxSeqLength, s.DocStride, padToMax);
            trainFeatures = Take([.. qa.Select(f => Feature(f, true, types))], s.MaxTrainSamples);
        }
        (List<QaExample> Examples, List<QaFeature> Qa, List<TrainingFeature> Features)? eval = null, test = null;
        // Without --version_2_with_negative every question of a labelled file needs an answer (SQuAD v1 metrics):
        // checked here, before training, not when the metrics are computed.
        void RequireAnswers(List<QaExample> examples, string path, bool allowUnlabelled)
        {
            if (s.Version2WithNegative) return;
            var missing = examples.FirstOrDefault(e => e.AnswerTexts.Count == 0);
            if (missing is null || (allowUnlabelled && examples.All(e => e.AnswerTexts.Count == 0))) return;
            throw new TrainingDataException(path, null, "answers", $"question {missing.Id} has no answer: add --version_2_with_negative for SQuAD v2 data");
        }
        // max_*_samples cuts features; an example whose windows were cut in part is dropped with them (utils_qa would
        // fail on an example without features).
        (List<QaExample>, List<QaFeature>, List<TrainingFeature>) Split(List<QaExample> examples, int? max)
        {
            var all = QuestionAnsweringPreprocessing.PrepareValidationFeatures(c.Tokenizer, examples, maxSeqLength, s.DocStride, padToMax);
            var kept = Take(all, max);
            if (kept.Count < all.Count && kept.Count > 0 && all[kept.Count].ExampleId == kept[^1].ExampleId)
            {
                string partial = kept[^1].ExampleId;
                kept = [.. kept.Where(f => f.ExampleId != partial)];
            }
            var ids = kept.Select(f => f.ExampleId).ToHashSet(StringComparer.Ordinal);
            var keptExamples = examples.Where(e => ids.Contains(e.Id)).ToList();
            if (keptExamples.Count == 0) throw new ArgumentException($"max_eval_samples / max_predict_samples {max} keeps no whole example", "max_eval_samples");
            return (keptExamples, kept, [.. kept.Select(f => Feature(f, false, types))]);
        }
        if (c.Args.DoEval)
        {
            var examples = Examples(s.ValidationFile!, s.MaxEvalSamples);
            RequireAnswers(examples, s.ValidationFile!, allowUnlabelled: false);
            eval = Split(examples, s.MaxEvalSamples);
        }
        if (c.Args.DoPredict)
        {
            var examples = Examples(s.TestFile!, s.MaxPredictSamples);
            RequireAnswers(examples, s.TestFile!, allowUnlabelled: true);
            test = Split(examples, s.MaxPredictSamples);
        }

        using var model = BuildModel(c, c.Config, DebertaSharp.DebertaHead.QuestionAnswering);
        var written = new List<string>();
        // post_processing_function + compute_metrics, for the evaluation and the test set (told apart by their features).
        IReadOnlyDictionary<string, double> Metrics(EvalPrediction p)
        {
            var (examples, qa, _, stage) = eval is { } e && ReferenceEquals(p.Features, e.Features) ? (e.Examples, e.Qa, e.Features, "eval")
                : test is { } t && ReferenceEquals(p.Features, t.Features) ? (t.Examples, t.Qa, t.Features, "predict")
                : throw new InvalidOperationException("question answering predictions for an unknown dataset");
            var result = QuestionAnsweringPostprocessing.PostprocessPredictions(examples, qa, [.. p.Predictions], [.. p.EndLogits!],
                s.Version2WithNegative, s.NBestSize, s.MaxAnswerLength, s.NullScoreDiffThreshold);
            Directory.CreateDirectory(c.Args.OutputDir);
            written.AddRange(result.WriteFiles(c.Args.OutputDir, stage));
            var references = examples.ToDictionary(x => x.Id, x => (IReadOnlyList<string>)x.AnswerTexts, StringComparer.Ordinal);
            bool hasAnswers = examples.Any(x => x.AnswerTexts.Count > 0);
            if (!hasAnswers && !s.Version2WithNegative) return new Dictionary<string, double>();
            return s.Version2WithNegative
                ? SquadMetrics.ComputeV2(result.Predictions, result.Predictions.ToDictionary(kv => kv.Key, _ => 0.0, StringComparer.Ordinal), references)
                : SquadMetrics.ComputeV1(result.Predictions, references);
        }
        var collator = new DataCollatorWithPadding(c.PadTokenId, c.PadTokenTypeId);
        using var trainer = NewTrainer(c, model, collator, trainFeatures, eval?.Features, Metrics, configure);
        trainer.MetricsNeedNoLabels = true;
        var (trainMetrics, evalMetrics) = TrainAndEvaluate(c, trainer, trainFeatures?.Count ?? 0, eval?.Features.Count ?? 0, written, ct);
        IReadOnlyDictionary<string, double>? predictMetrics = null;
        if (test is { } tt)
        {
            var output = trainer.Predict(tt.Features, "predict", ct);
            if (tt.Examples.Any(x => x.AnswerTexts.Count > 0) || s.Version2WithNegative)
            {
                var m = new Dictionary<string, double>(output.Metrics) { ["predict_samples"] = tt.Features.Count };
                Trainer.SaveMetrics(c.Args.OutputDir, "predict", m);
                written.Add(Path.Combine(c.Args.OutputDir, "predict_results.json"));
                predictMetrics = m;
            }
        }
        return new FineTuningResult(trainMetrics, evalMetrics, predictMetrics, written);
    }
}
