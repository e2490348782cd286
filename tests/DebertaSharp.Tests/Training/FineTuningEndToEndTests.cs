using System.Globalization;
using System.Text.Json.Nodes;
using DebertaSharp.Training;
using Xunit.Abstractions;

namespace DebertaSharp.Tests.Training;

/// <summary>
/// Each script end to end on a tiny model (trained from scratch: no pretrained weights can ship) and a slice of the real
/// data sets in Fixtures/datasets: it learns, and the metrics it reports equal those recomputed from its predictions files.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public sealed class FineTuningEndToEndTests(ITestOutputHelper log)
{
    private static ScriptArguments Scratch(TempDir tmp) => new()
    {
        ConfigName = TrainCommandTests.TinyConfig(tmp["cfg"]),
        TokenizerName = TestPaths.Fixture("deberta-base-vocab"),
    };

    private static TrainingArguments Args(string output) => new()
    {
        OutputDir = output, DoTrain = true, DoEval = true, SaveStrategy = IntervalStrategy.No, LoggingSteps = 10, Seed = 1,
    };

    private static JsonObject Results(string output, string split) => JsonNode.Parse(File.ReadAllText(Path.Combine(output, $"{split}_results.json")))!.AsObject();

    private static List<JsonObject> LossLogs(string output) =>
        [.. TrainerState.Load(Path.Combine(output, "trainer_state.json")).LogHistory.Where(h => h.ContainsKey("loss"))];

    private void AssertLossFell(string output)
    {
        var logs = LossLogs(output);
        double first = (double)logs[0]["loss"]!, last = (double)logs[^1]["loss"]!;
        log.WriteLine($"training loss {first} → {last} over {logs.Count} logs");
        Assert.True(last < first, $"training loss did not fall: {first} → {last}");
    }

    [Fact]
    public void Text_Classification_Learns_Sentiment_And_Its_Metrics_Match_Its_Predictions_File()
    {
        using var tmp = TestPaths.TempDir();
        // 300 IMDb + 300 Yelp sentences to train on; 100 + 100 others to evaluate and predict.
        var lines = File.ReadAllLines(TestPaths.Fixture("datasets", "sentiment", "imdb_yelp.jsonl"));
        File.WriteAllLines(tmp["train.jsonl"], [.. lines[..300], .. lines[1000..1300]]);
        File.WriteAllLines(tmp["val.jsonl"], [.. lines[900..1000], .. lines[1900..2000]]);
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.TextClassification,
            Scratch(tmp) with { TrainFile = tmp["train.jsonl"], ValidationFile = tmp["val.jsonl"], TestFile = tmp["val.jsonl"], MaxSeqLength = 48 },
            Args(output) with { DoPredict = true, NumTrainEpochs = 4, LearningRate = 2e-3, PerDeviceTrainBatchSize = 16, PerDeviceEvalBatchSize = 32 });
        double accuracy = result.EvalMetrics!["eval_accuracy"];
        log.WriteLine($"eval_accuracy {accuracy}, eval_f1 {result.EvalMetrics["eval_f1"]}");
        Assert.True(accuracy > 0.65, $"eval_accuracy {accuracy}: the model did not learn (chance is 0.5)");
        AssertLossFell(output);

        // predict_results_None.txt (index<TAB>label name) against the gold labels: the same accuracy and F1.
        var predictLines = File.ReadAllLines(Path.Combine(output, "predict_results_None.txt"));
        Assert.Equal("index\tprediction", predictLines[0]);
        int[] predicted = [.. predictLines[1..].Select(l => int.Parse(l.Split('\t')[1], CultureInfo.InvariantCulture))];
        int[] gold = [.. File.ReadLines(tmp["val.jsonl"]).Select(l => (int)JsonNode.Parse(l)!["label"]!)];
        Assert.Equal(gold.Length, predicted.Length);
        Assert.Equal(ClassificationMetrics.Accuracy(predicted, gold), result.PredictMetrics!["predict_accuracy"], 12);
        Assert.Equal(ClassificationMetrics.F1(predicted, gold), result.PredictMetrics["predict_f1"], 12);
        Assert.Equal(result.EvalMetrics["eval_accuracy"], result.PredictMetrics["predict_accuracy"], 12);   // same file, same model
        // config.json carries the data's labels; the model loads back as Hugging Face's folder.
        var config = DebertaConfig.FromFile(Path.Combine(output, "config.json"));
        Assert.Equal(["DebertaForSequenceClassification"], config.Architectures!);
        Assert.Equal(2, config.NumLabels);
        Assert.Equal(200.0, (double)Results(output, "eval")["eval_samples"]!);
        var all = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "all_results.json")))!.AsObject();
        Assert.True(all.ContainsKey("train_loss") && all.ContainsKey("eval_accuracy") && all.ContainsKey("predict_accuracy"));
    }

    [Fact]
    public void Token_Classification_Learns_Wikigold_And_Its_Metrics_Match_Predictions_Txt()
    {
        using var tmp = TestPaths.TempDir();
        var lines = File.ReadAllLines(TestPaths.Fixture("datasets", "wikigold", "wikigold_1500.jsonl"));
        File.WriteAllLines(tmp["train.jsonl"], lines[..400]);
        File.WriteAllLines(tmp["val.jsonl"], lines[1400..]);
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.TokenClassification,
            Scratch(tmp) with { TrainFile = tmp["train.jsonl"], ValidationFile = tmp["val.jsonl"], TestFile = tmp["val.jsonl"], ReturnEntityLevelMetrics = true },
            Args(output) with { DoPredict = true, NumTrainEpochs = 3, LearningRate = 3e-3, PerDeviceTrainBatchSize = 16 });
        AssertLossFell(output);
        // IO tags: all-O would score accuracy = share of O tokens; the model must do better on entities than nothing.
        log.WriteLine(string.Join(", ", result.EvalMetrics!.Select(kv => $"{kv.Key}={kv.Value:G4}")));
        Assert.True(result.EvalMetrics!["eval_overall_f1"] > 0.05, "no entity found at all");

        // predictions.txt has one line of tags per sentence; seqeval on it against the gold tags gives the predict_* metrics.
        var predicted = File.ReadAllLines(Path.Combine(output, "predictions.txt")).Select(l => (IReadOnlyList<string>)l.Split(' ')).ToList();
        var gold = File.ReadLines(tmp["val.jsonl"]).Select(l => (IReadOnlyList<string>)[.. JsonNode.Parse(l)!["ner_tags"]!.AsArray().Select(t => (string)t!)]).ToList();
        Assert.Equal(gold.Count, predicted.Count);
        for (int i = 0; i < gold.Count; i++) Assert.Equal(gold[i].Count, predicted[i].Count);
        var recomputed = Seqeval.Compute(predicted, gold);
        Assert.Equal(recomputed.OverallF1, result.PredictMetrics!["predict_overall_f1"], 12);
        Assert.Equal(recomputed.OverallAccuracy, result.PredictMetrics["predict_overall_accuracy"], 12);
        foreach (var (type, scores) in recomputed.PerType)
            Assert.Equal(scores.F1, result.PredictMetrics[$"predict_{type}_f1"], 12);
        var config = DebertaConfig.FromFile(Path.Combine(output, "config.json"));
        Assert.Equal(["I-LOC", "I-MISC", "I-ORG", "I-PER", "O"], config.Id2Label!.OrderBy(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)).Select(kv => kv.Value));
    }

    [Fact]
    public void Token_Classification_Reads_CoNLL_With_Its_Sorted_Tag_Set()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["train.conll"], "Barack B-PER\nObamaXyz I-PER\nvisited O\nParis B-LOC\n\nHello O\n");
        string output = tmp["out"];
        var scratch = Scratch(tmp) with { TrainFile = tmp["train.conll"] };
        FineTuning.Run(FineTuningTask.TokenClassification, scratch, Args(output) with { DoEval = false, MaxSteps = 1 });
        var config = DebertaConfig.FromFile(Path.Combine(output, "config.json"));
        Assert.Equal(["B-LOC", "B-PER", "I-PER", "O"], config.Id2Label!.OrderBy(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture)).Select(kv => kv.Value));
    }

    [Fact]
    public void Masked_LM_From_Scratch_Learns_And_Reports_Perplexity()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllLines(tmp["train.txt"], File.ReadLines(TestPaths.Fixture("datasets", "sentiment", "imdb_yelp.jsonl")).Take(600)
            .Select(l => (string)JsonNode.Parse(l)!["sentence"]!));
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.MaskedLM,
            Scratch(tmp) with { TrainFile = tmp["train.txt"], MaxSeqLength = 64, ValidationSplitPercentage = 10 },
            Args(output) with { NumTrainEpochs = 2, LearningRate = 2e-3, PerDeviceTrainBatchSize = 8 });
        AssertLossFell(output);
        double loss = result.EvalMetrics!["eval_loss"];
        Assert.Equal(Math.Exp(loss), result.EvalMetrics["perplexity"], 9);
        Assert.InRange(result.EvalMetrics["eval_accuracy"], 0.0, 1.0);
        Assert.True(loss < Math.Log(50265), $"eval_loss {loss} is no better than uniform over the vocabulary");
        using var model = DebertaForMaskedLM.FromPretrained(output);
        Assert.True(File.Exists(Path.Combine(output, "vocab.json")), "the tokenizer is saved with the model");
    }

    [Fact]
    public void Masked_LM_Line_By_Line_Skips_Empty_Lines()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["train.txt"], "The film was great.\n\n   \nThe food was cold.\nService was slow.\n");
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.MaskedLM, Scratch(tmp) with { TrainFile = tmp["train.txt"], LineByLine = true, ValidationSplitPercentage = 0 },
            Args(output) with { DoEval = false, NumTrainEpochs = 1 });
        Assert.Equal(3.0, result.TrainMetrics!["train_samples"]);
    }

    [Fact]
    public void Question_Answering_On_XQuAD_Writes_Predictions_Whose_SQuAD_Scores_Are_The_Reported_Ones()
    {
        using var tmp = TestPaths.TempDir();
        string squad = TestPaths.Fixture("datasets", "xquad", "xquad.en.json");
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.QuestionAnswering,
            Scratch(tmp) with { TrainFile = squad, ValidationFile = squad, MaxSeqLength = 128, DocStride = 32, MaxTrainSamples = 200, MaxEvalSamples = 60 },
            Args(output) with { NumTrainEpochs = 2, LearningRate = 2e-3, PerDeviceTrainBatchSize = 16, PerDeviceEvalBatchSize = 32 });
        AssertLossFell(output);
        var predictions = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "eval_predictions.json")))!.AsObject()
            .ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
        Assert.True(File.Exists(Path.Combine(output, "eval_nbest_predictions.json")));
        // The gold answers of the questions predicted, read from the official file independently of the trainer.
        var gold = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var article in JsonNode.Parse(File.ReadAllText(squad))!["data"]!.AsArray())
            foreach (var paragraph in article!["paragraphs"]!.AsArray())
                foreach (var qa in paragraph!["qas"]!.AsArray())
                    if (predictions.ContainsKey((string)qa!["id"]!))
                        gold[(string)qa["id"]!] = [.. qa["answers"]!.AsArray().Select(a => (string)a!["text"]!)];
        Assert.Equal(predictions.Count, gold.Count);
        var recomputed = SquadMetrics.ComputeV1(predictions, gold);
        Assert.Equal(recomputed["exact_match"], result.EvalMetrics!["eval_exact_match"], 9);
        Assert.Equal(recomputed["f1"], result.EvalMetrics["eval_f1"], 9);
        log.WriteLine($"exact_match {recomputed["exact_match"]}, f1 {recomputed["f1"]}");
    }

    [Fact]
    public void Question_Answering_Version_2_Reports_HasAns_And_NoAns_And_Writes_Null_Odds()
    {
        using var tmp = TestPaths.TempDir();
        // Two XQuAD articles as SQuAD v2.0: every third question made unanswerable (is_impossible, no answers).
        var data = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("datasets", "xquad", "xquad.en.json")))!;
        var articles = new JsonArray();
        int k = 0;
        foreach (var article in data["data"]!.AsArray().Take(2))
        {
            foreach (var paragraph in article!["paragraphs"]!.AsArray())
                foreach (var qa in paragraph!["qas"]!.AsArray())
                    if (k++ % 3 == 0) { qa!["is_impossible"] = true; qa["answers"] = new JsonArray(); }
            articles.Add(article.DeepClone());
        }
        File.WriteAllText(tmp["v2.json"], new JsonObject { ["version"] = "v2.0", ["data"] = articles }.ToJsonString());
        string output = tmp["out"];
        var result = FineTuning.Run(FineTuningTask.QuestionAnswering,
            Scratch(tmp) with { TrainFile = tmp["v2.json"], ValidationFile = tmp["v2.json"], MaxSeqLength = 128, DocStride = 32, Version2WithNegative = true },
            Args(output) with { NumTrainEpochs = 1, LearningRate = 2e-3, PerDeviceTrainBatchSize = 16 });
        var m = result.EvalMetrics!;
        log.WriteLine(string.Join(", ", m.Select(kv => $"{kv.Key}={kv.Value:G4}")));
        foreach (string key in new[] { "eval_exact", "eval_f1", "eval_HasAns_exact", "eval_NoAns_exact", "eval_best_f1", "eval_best_f1_thresh" })
            Assert.True(m.ContainsKey(key), key);
        Assert.Equal(m["eval_total"], m["eval_HasAns_total"] + m["eval_NoAns_total"]);
        Assert.True(File.Exists(Path.Combine(output, "eval_null_odds.json")));
        // Without --version_2_with_negative, unanswerable training questions are an error naming one.
        var e = Assert.Throws<TrainingDataException>(() => FineTuning.Run(FineTuningTask.QuestionAnswering,
            Scratch(tmp) with { TrainFile = tmp["v2.json"], MaxSeqLength = 128, DocStride = 32 }, Args(tmp["out2"]) with { DoEval = false }));
        Assert.Contains("version_2_with_negative", e.Message);
    }
}
