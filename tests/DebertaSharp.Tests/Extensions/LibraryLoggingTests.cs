using DebertaSharp.Tests.Modeling;
using DebertaSharp.Tests.Training;
using DebertaSharp.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Extensions;

/// <summary>The library's <see cref="ILogger"/> reports: checkpoint loading decisions and the trainer's log entries.</summary>
[Collection(GlobalRngCollection.Name)]
public class LibraryLoggingTests
{
    [Fact]
    public void Loading_Decisions_Reach_The_Logger_As_They_Reach_Log()
    {
        var logger = new CapturingLogger();
        var lines = new List<string>();
        string dir = TestPaths.Fixture("pipeline_models", "masked_lm");
        using var model = DebertaPreTrainedModel.FromPretrained(dir, head: DebertaHead.SequenceClassification,
            options: new PretrainedLoadOptions { Log = lines.Add, Logger = logger });
        Assert.NotEmpty(lines);
        Assert.Equal(lines.Select(l => $"{dir}: {l}"), logger.Entries.Select(e => e.Message));
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Information && e.Message.Contains(": read ", StringComparison.Ordinal));
        // A masked-LM checkpoint in a classifier: the new head is a warning, as in Hugging Face.
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("newly initialised head weights", StringComparison.Ordinal));
    }

    [Fact]
    public void Trainer_Log_Entries_Reach_The_Logger_At_Debug()
    {
        var logger = new CapturingLogger();
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        var features = Enumerable.Range(0, 4).Select(i => new TrainingFeature { InputIds = [1, 5 + i, 7, 2], Label = i % 2 }).ToList();
        var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, MaxSteps = 2, LoggingSteps = 1, SaveStrategy = IntervalStrategy.No };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, logger: logger);
        trainer.Train();
        var debug = logger.Entries.Where(e => e.Level == LogLevel.Debug).Select(e => e.Message).ToList();
        Assert.Equal(trainer.State.LogHistory.Select(h => h.ToJsonString()), debug);
        Assert.Contains(debug, m => m.Contains("\"loss\"", StringComparison.Ordinal));
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("Running training", StringComparison.Ordinal));
    }
}
