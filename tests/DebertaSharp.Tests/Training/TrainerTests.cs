using System.Text.Json.Nodes;
using DebertaSharp.Tests.Modeling;
using DebertaSharp.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Training;

/// <summary>The Trainer against Hugging Face's six-step trace, its sampler, accumulation, schedules and resumption.</summary>
[Collection(GlobalRngCollection.Name)]
public sealed class TrainerTests(ITestOutputHelper log)
{
    /// <summary>Fixtures/training as features: one row per example, unpadded (the collator pads them back).</summary>
    internal static List<TrainingFeature> TraceFeatures()
    {
        var batch = ParityAssert.Load(TestPaths.Fixture("training", "batch.safetensors"));
        try
        {
            var ids = batch["input.input_ids"];
            var mask = batch["input.attention_mask"];
            var labels = batch["input.labels"];
            var list = new List<TrainingFeature>();
            for (int b = 0; b < ids.shape[0]; b++)
            {
                int len = (int)mask[b].sum().item<long>();
                list.Add(new TrainingFeature
                {
                    InputIds = [.. ids[b].data<long>().ToArray().Take(len).Select(x => (int)x)],
                    AttentionMask = [.. Enumerable.Repeat(1, len)],
                    Label = (int)labels[b].item<long>(),
                });
            }
            return list;
        }
        finally { ParityAssert.DisposeAll(batch.Values); }
    }

    internal static TrainingArguments TraceArgs(string outputDir) => new()
    {
        OutputDir = outputDir,
        LearningRate = 5e-3,
        WeightDecay = 0.01,
        WarmupSteps = 2,
        MaxSteps = 6,
        PerDeviceTrainBatchSize = 4,
        LoggingSteps = 1,
        SaveStrategy = IntervalStrategy.No,
    };

    internal static void AssertMatchesTrace(IReadOnlyList<JsonObject> history, DebertaPreTrainedModel model, ITestOutputHelper log)
    {
        var trace = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("training", "trace.json")))!;
        double[] losses = [.. trace["losses"]!.AsArray().Select(x => (double)x!)];
        double[] lrs = [.. trace["lrs_used"]!.AsArray().Select(x => (double)x!)];
        double[] norms = [.. trace["grad_norms_before_clip"]!.AsArray().Select(x => (double)x!)];
        var steps = history.Where(h => h.ContainsKey("loss")).ToList();
        Assert.Equal(losses.Length, steps.Count);
        for (int i = 0; i < steps.Count; i++)
        {
            double loss = (double)steps[i]["loss"]!, norm = (double)steps[i]["grad_norm"]!, lr = (double)steps[i]["learning_rate"]!;
            log.WriteLine($"step {i + 1}: loss {loss} (HF {losses[i]:F4}), grad_norm {norm:R} (HF {norms[i]:R}), learning_rate {lr:R}");
            Assert.Equal(i + 1, (int)steps[i]["step"]!);
            // Hugging Face logs the loss rounded to 4 decimals.
            Assert.Equal(Math.Round(losses[i], 4), loss, 10);
            Assert.True(Math.Abs(norm - norms[i]) <= 1e-4 * norms[i], $"step {i + 1}: grad_norm {norm} vs {norms[i]}");
            // The logged learning rate is the scheduler's after its step: the one the next step uses (0 after the last).
            double expectedLr = i + 1 < lrs.Length ? lrs[i + 1] : 0.0;
            Assert.Equal(expectedLr, lr, 12);
            Assert.Equal((i + 1) / 1.0, (double)steps[i]["epoch"]!, 12);   // one batch per epoch
        }
        var final = ParityAssert.Load(TestPaths.Fixture("training", "final", "model.safetensors"));
        try
        {
            foreach (var (name, p) in model.named_parameters()) ParityAssert.Close(name, final[name], p.detach());
        }
        finally { ParityAssert.DisposeAll(final.Values); }
    }

    [Fact]
    public void Six_Steps_Through_The_Trainer_Match_The_Hugging_Face_Trace()
    {
        using var tmp = TestPaths.TempDir();
        using var model = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("training", "initial"));
        using var trainer = new Trainer(model, TraceArgs(tmp["out"]), new DataCollatorWithPadding(0), TraceFeatures());
        var result = trainer.Train();
        Assert.Equal(6, result.GlobalStep);
        AssertMatchesTrace(trainer.State.LogHistory, model, log);
        var trace = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("training", "trace.json")))!;
        double meanLoss = trace["losses"]!.AsArray().Average(x => (double)x!);
        Assert.Equal(meanLoss, result.TrainingLoss, 5);
        Assert.Equal(meanLoss, (double)trainer.State.LogHistory[^1]["train_loss"]!, 5);
    }

    [Fact]
    public void Epoch_Order_Is_Torch_Randperm_On_A_Generator_Seeded_With_Seed_Plus_Epoch()
    {
        // hf4/README.md: randperm(n) draws one u32 per position i < n-1 (z = u32 % (n - i), swap i and i+z) from
        // mt19937. mt19937 seeded with 42 starts 1608637542, 3421126067, 4083286876 (the reference sequence of
        // std::mt19937 / numpy's RandomState(42)): 1608637542 % 4 = 2 → [2,1,0,3]; 3421126067 % 3 = 2 → [2,3,0,1];
        // 4083286876 % 2 = 0 → [2,3,0,1].
        Assert.Equal([2, 3, 0, 1], Trainer.EpochOrder(4, 42));
        // Seeds differ per epoch and the permutation covers every index.
        var e1 = Trainer.EpochOrder(50, 43);
        Assert.Equal(Enumerable.Range(0, 50), e1.Order());
        Assert.NotEqual(Trainer.EpochOrder(50, 42), e1);
    }

    private static List<TrainingFeature> RandomFeatures(int count, int vocab, int seed, int labels)
    {
        var rnd = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            int len = rnd.Next(4, 12);
            var ids = new int[len];
            ids[0] = 1;
            for (int i = 1; i < len; i++) ids[i] = rnd.Next(4, vocab);
            return new TrainingFeature { InputIds = ids, Label = rnd.Next(labels) };
        })];
    }

    [Fact]
    public void Gradient_Accumulation_Equals_The_Large_Batch()
    {
        // 8 examples: one batch of 8, or 4 micro-batches of 2 whose losses are each divided by 4, give the same update.
        var features = RandomFeatures(8, 40, 5, 3);
        var config = TinyConfigs.Tiny(c => c with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0, NumLabelsValue = 3 });
        using var tmp = TestPaths.TempDir();
        Dictionary<string, Tensor> Run(int batch, int gas)
        {
            random.manual_seed(3);
            using var model = new DebertaForSequenceClassification(config);
            var args = new TrainingArguments
            {
                OutputDir = tmp[$"b{batch}"], PerDeviceTrainBatchSize = batch, GradientAccumulationSteps = gas,
                LearningRate = 1e-2, NumTrainEpochs = 3, SaveStrategy = IntervalStrategy.No, LoggingSteps = 1, WeightDecay = 0.1,
            };
            using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features);
            var r = trainer.Train();
            Assert.Equal(3 * (8 / batch) / gas, r.GlobalStep);
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        }
        var big = Run(8, 1);
        var small = Run(2, 4);
        try
        {
            foreach (var (name, t) in big) ParityAssert.Close(name, t, small[name], 1e-5);
            // And different from a run without accumulation (the test can fail).
            var noAcc = Run(2, 1);
            double maxDiff = big.Max(kv => ParityAssert.MaxAbsDiff(kv.Value, noAcc[kv.Key]));
            Assert.True(maxDiff > 1e-3, $"accumulation made no difference ({maxDiff})");
            ParityAssert.DisposeAll(noAcc.Values);
        }
        finally
        {
            ParityAssert.DisposeAll(big.Values);
            ParityAssert.DisposeAll(small.Values);
        }
    }

    [Fact]
    public void Last_Short_Group_Divides_By_Its_Own_Count()
    {
        // 6 examples, batches of 2 → 3 micro-batches; accumulation 2 → groups of 2 and 1: 2 optimizer steps per epoch.
        var features = RandomFeatures(6, 40, 9, 2);
        var config = TinyConfigs.Tiny(c => c with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0, NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, GradientAccumulationSteps = 2, NumTrainEpochs = 2, SaveStrategy = IntervalStrategy.No, LoggingSteps = 1 };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features);
        var r = trainer.Train();
        Assert.Equal(4, r.GlobalStep);
        double[] epochs = [.. trainer.State.LogHistory.Where(h => h.ContainsKey("loss")).Select(h => (double)h["epoch"]!)];
        Assert.Equal([2 / 3.0, 1.0, 1 + 2 / 3.0, 2.0], epochs);
    }

    [Fact]
    public void Fused_AdamW_Step_Equals_Torch_Tensor_Ops()
    {
        // The fused pass against torch's own ops (lerp_, addcmul_, sqrt, div_, add_, addcdiv_) on the same values.
        random.manual_seed(11);
        var init = randn(1000, 37);
        var grads = Enumerable.Range(0, 4).Select(_ => randn(1000, 37) * 0.1).ToList();
        float[] Run(bool fused)
        {
            using var p = new TorchSharp.Modules.Parameter(init.clone());
            using var opt = new AdamW([("w.weight", p)], 1e-2, 0.9, 0.999, 1e-8, 0.1) { DisableFusion = !fused };
            foreach (var g in grads)
            {
                p.grad = g.clone();
                opt.Step();
                opt.ZeroGrad();
            }
            return p.detach().data<float>().ToArray();
        }
        float[] a = Run(true), b = Run(false);
        int differing = a.Zip(b).Count(x => x.First != x.Second);
        // In ulps of the result: the roundings are torch's except the square root (LibTorch's vectorised sqrt is
        // within 1 ulp of the correctly rounded one), so a few values may differ in their last bit.
        double maxUlps = a.Zip(b).Max(x => Math.Abs(x.First - x.Second) / (MathF.BitIncrement(Math.Abs(x.Second)) - Math.Abs(x.Second)));
        log.WriteLine($"{differing} of {a.Length} values differ, at most {maxUlps} ulp");
        Assert.True(maxUlps <= 2, $"fused AdamW differs from torch's ops by {maxUlps} ulp");
        Assert.True(differing < a.Length / 10, $"{differing} of {a.Length} values differ");
        Assert.NotEqual(init.data<float>().ToArray(), a);
    }

    [Theory]
    // Hand-computed from optimization.py's lambdas (lr 1.0, 2 warmup steps of 10).
    [InlineData(SchedulerType.Linear, 1, 0.5)]          // warmup: 1/2
    [InlineData(SchedulerType.Linear, 6, 0.5)]          // (10-6)/(10-2)
    [InlineData(SchedulerType.Linear, 10, 0.0)]
    [InlineData(SchedulerType.Cosine, 6, 0.5)]          // progress 4/8 → 0.5·(1+cos(π/2))
    [InlineData(SchedulerType.Cosine, 4, 0.8535533905932737)]   // progress 1/4 → 0.5·(1+cos(π/4))
    [InlineData(SchedulerType.Constant, 0, 1.0)]
    [InlineData(SchedulerType.ConstantWithWarmup, 1, 0.5)]
    [InlineData(SchedulerType.ConstantWithWarmup, 7, 1.0)]
    [InlineData(SchedulerType.Polynomial, 6, 0.50000005)]       // (1-1e-7)·(1-4/8) + 1e-7
    [InlineData(SchedulerType.Polynomial, 11, 1e-7)]            // past the end: lr_end / lr
    public void Schedules_Follow_Hugging_Face(SchedulerType type, int step, double expected) =>
        Assert.Equal(expected, LearningRateSchedules.LearningRate(type, 1.0, step, 2, 10), 12);

    [Theory]
    [InlineData(3)]   // inside the second epoch (2 optimizer steps per epoch)
    [InlineData(2)]   // at the end of the first epoch
    public void Resumed_Run_Equals_The_Uninterrupted_One(int resumeStep)
    {
        // With dropout on, so that the restored generator state matters; and gradient accumulation over a short last group.
        var features = RandomFeatures(10, 40, 11, 3);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 3 });
        using var tmp = TestPaths.TempDir();
        TrainingArguments Args(string dir) => new()
        {
            OutputDir = dir, PerDeviceTrainBatchSize = 3, GradientAccumulationSteps = 2, NumTrainEpochs = 3, LearningRate = 1e-2,
            SaveStrategy = IntervalStrategy.Steps, SaveSteps = resumeStep, LoggingSteps = 1, Seed = 7, WarmupSteps = 1, WeightDecay = 0.01,
        };
        DebertaForSequenceClassification NewModel()
        {
            random.manual_seed(7);
            return new DebertaForSequenceClassification(config);
        }
        using var full = NewModel();
        using var fullTrainer = new Trainer(full, Args(tmp["full"]), new DataCollatorWithPadding(0), features);
        fullTrainer.Train();
        Assert.Equal(6, fullTrainer.State.GlobalStep);   // 4 batches → 2 steps per epoch, 3 epochs
        var ckpt = Path.Combine(tmp["full"], $"checkpoint-{resumeStep}");
        Assert.True(Directory.Exists(ckpt));

        // Resume into a different random model: the checkpoint decides everything.
        random.manual_seed(99);
        using var resumed = new DebertaForSequenceClassification(config);
        using var resumedTrainer = new Trainer(resumed, Args(tmp["resumed"]), new DataCollatorWithPadding(0), features);
        resumedTrainer.Train(ckpt);
        foreach (var ((name, a), (_, b)) in full.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, $"{name} differs after resuming");
        static string Losses(TrainerState s) => string.Join(",", s.LogHistory.Where(h => h.ContainsKey("loss") || h.ContainsKey("train_loss"))
            .Select(h => $"{h["step"]}:{h["loss"] ?? h["train_loss"]}:{h["grad_norm"]}:{h["learning_rate"]}"));
        Assert.Equal(Losses(fullTrainer.State), Losses(resumedTrainer.State));
    }

    [Fact]
    public void Checkpoints_Hold_What_Resuming_Needs_And_Rotate()
    {
        var features = RandomFeatures(8, 40, 2, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, MaxSteps = 8, SaveSteps = 2, SaveTotalLimit = 2, LoggingSteps = 2 };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features);
        trainer.Train();
        var dirs = Directory.GetDirectories(tmp.Path).Select(d => Path.GetFileName(d)!).Order().ToArray();
        Assert.Equal(["checkpoint-6", "checkpoint-8"], dirs);
        foreach (string f in new[] { "config.json", "model.safetensors", "optimizer.safetensors", "scheduler.json", "rng_state.safetensors", "trainer_state.json", "training_args.json" })
            Assert.True(File.Exists(Path.Combine(tmp.Path, "checkpoint-8", f)), f);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "checkpoint-8", "trainer_state.json")))!;
        Assert.Equal(8, (int)state["global_step"]!);
        Assert.Equal(4, state["log_history"]!.AsArray().Count);
        Assert.Equal(Path.Combine(tmp.Path, "checkpoint-8"), Trainer.GetLastCheckpoint(tmp.Path));
        // The checkpoint loads as a Hugging Face folder.
        using var loaded = DebertaForSequenceClassification.FromPretrained(Path.Combine(tmp.Path, "checkpoint-8"));
        foreach (var ((name, a), (_, b)) in model.named_parameters().Zip(loaded.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, name);
    }

    [Fact]
    public void Best_Model_Is_Tracked_Kept_Reloaded_And_Early_Stopping_Stops()
    {
        var features = RandomFeatures(8, 40, 6, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(2);
        using var model = new DebertaForSequenceClassification(config);
        // Evaluating on the training data with a large learning rate: the loss moves every epoch. Best = lowest eval_loss.
        var args = new TrainingArguments
        {
            OutputDir = tmp.Path, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 6, LearningRate = 0.5, LrSchedulerType = SchedulerType.Constant,
            EvalStrategy = IntervalStrategy.Epoch, SaveStrategy = IntervalStrategy.Epoch, LoadBestModelAtEnd = true, SaveTotalLimit = 1,
            EarlyStoppingPatience = 2, LoggingSteps = 1,
        };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, features);
        trainer.Train();
        var evals = trainer.State.LogHistory.Where(h => h.ContainsKey("eval_loss")).Select(h => ((double)h["eval_loss"]!, (int)h["step"]!)).ToList();
        log.WriteLine(string.Join(", ", evals.Select(e => $"step {e.Item2}: {e.Item1:F4}")));
        var best = evals.MinBy(e => e.Item1);
        Assert.Equal(best.Item1, trainer.State.BestMetric);
        Assert.Equal(Path.Combine(tmp.Path, $"checkpoint-{best.Item2}"), trainer.State.BestModelCheckpoint);
        // Early stopping: EarlyStoppingCallback's rule applied to the losses the run logged (patience 2, threshold 0)
        // says how many evaluations there are: up to the second in a row without a new lowest loss, else all 6.
        int expected = 6, counter = 0;
        double? lowest = null;
        for (int i = 0; i < 6 && i < evals.Count; i++)
        {
            if (lowest is not double l || evals[i].Item1 < l) (lowest, counter) = (evals[i].Item1, 0);
            else counter++;
            if (counter >= 2) { expected = i + 1; break; }
        }
        Assert.Equal(expected, evals.Count);
        Assert.True(expected < 6, "early stopping never fired: the losses " + string.Join(", ", evals.Select(e => e.Item1)));
        // save_total_limit 1 with a best checkpoint: train() ends by deleting every checkpoint but the best.
        Assert.Equal([Path.GetFileName(trainer.State.BestModelCheckpoint!)], Directory.GetDirectories(tmp.Path, "checkpoint-*").Select(d => Path.GetFileName(d)!));
        // The model at the end is the best checkpoint's.
        using var bestModel = DebertaForSequenceClassification.FromPretrained(trainer.State.BestModelCheckpoint!);
        foreach (var ((name, a), (_, b)) in model.named_parameters().Zip(bestModel.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, $"{name}: not the best checkpoint's weights");
    }

    [Fact]
    public void Early_Stopping_Stops_When_The_Metric_Stops_Improving()
    {
        var features = RandomFeatures(8, 40, 7, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(2);
        using var model = new DebertaForSequenceClassification(config);
        // Learning rate 0: the evaluation loss never improves after the first evaluation → stop after 1 + patience evaluations.
        var args = new TrainingArguments
        {
            OutputDir = tmp.Path, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 10, LearningRate = 0, EvalStrategy = IntervalStrategy.Epoch,
            SaveStrategy = IntervalStrategy.No, EarlyStoppingPatience = 3,
        };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, features);
        trainer.Train();
        Assert.Equal(4, trainer.State.LogHistory.Count(h => h.ContainsKey("eval_loss")));
        Assert.Equal(8, trainer.State.GlobalStep);   // 2 steps per epoch, 4 epochs of 10
    }

    [Fact]
    public void Bf16_Trains_On_Fp32_Master_Weights_Close_To_Fp32_And_Resumes_Exactly()
    {
        var features = RandomFeatures(12, 40, 8, 3);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 3 });
        using var tmp = TestPaths.TempDir();
        TrainingArguments Args(string dir, bool bf16) => new()
        {
            OutputDir = dir, Bf16 = bf16, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 2, LearningRate = 1e-2, SaveSteps = 3, LoggingSteps = 1, Seed = 4,
        };
        DebertaForSequenceClassification NewModel()
        {
            random.manual_seed(4);
            return new DebertaForSequenceClassification(config);
        }
        using var fp32 = NewModel();
        using (var t = new Trainer(fp32, Args(tmp["fp32"], false), new DataCollatorWithPadding(0), features)) t.Train();
        using var bf16 = NewModel();
        using (var t = new Trainer(bf16, Args(tmp["bf16"], true), new DataCollatorWithPadding(0), features)) t.Train();
        // Back in fp32 after training, with weights near the fp32 run's (bf16 keeps 8 bits of mantissa) but not equal.
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        double maxDiff = fp32.named_parameters().Zip(bf16.named_parameters()).Max(x => ParityAssert.MaxAbsDiff(x.First.parameter, x.Second.parameter));
        log.WriteLine($"bf16 vs fp32 after 6 steps: max abs weight diff {maxDiff:E3}");
        Assert.InRange(maxDiff, 1e-7, 5e-2);
        // Checkpoints hold the fp32 master weights; resuming the bf16 run from one gives the same model.
        using (var ckpt = DebertaForSequenceClassification.FromPretrained(Path.Combine(tmp["bf16"], "checkpoint-6")))
            Assert.Equal(ScalarType.Float32, ckpt.parameters().First().dtype);
        random.manual_seed(77);
        using var resumed = new DebertaForSequenceClassification(config);
        using (var t = new Trainer(resumed, Args(tmp["resumed"], true), new DataCollatorWithPadding(0), features))
            t.Train(Path.Combine(tmp["bf16"], "checkpoint-3"));
        foreach (var ((name, a), (_, b)) in bf16.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, $"{name} differs after resuming bf16 training");
    }

    [Fact]
    public void A_Short_Last_Group_Is_Divided_By_Its_Own_Count_Not_By_Gradient_Accumulation_Steps()
    {
        // 6 examples in batches of 2 → 3 micro-batches; accumulation 2: group 1 = batches 0+1 (each loss / 2),
        // group 2 = batch 2 alone (loss / 1). Rebuilt by hand with the same sampler order and optimizer.
        var features = RandomFeatures(6, 40, 21, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(5);
        using var viaTrainer = new DebertaForSequenceClassification(config);
        random.manual_seed(5);
        using var byHand = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments
        {
            OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, GradientAccumulationSteps = 2, NumTrainEpochs = 1, MaxGradNorm = 0,
            LearningRate = 1e-2, LrSchedulerType = SchedulerType.Constant, SaveStrategy = IntervalStrategy.No, Seed = 3,
        };
        using (var t = new Trainer(viaTrainer, args, new DataCollatorWithPadding(0), features)) Assert.Equal(2, t.Train().GlobalStep);

        int[] order = Trainer.EpochOrder(6, 3);
        var collator = new DataCollatorWithPadding(0);
        byHand.train();
        using var opt = new AdamW(byHand.named_parameters().Select(p => (p.name, p.parameter)), 1e-2, 0.9, 0.999, 1e-8, 0.0);
        foreach (var group in new[] { new[] { 0, 1 }, new[] { 2 } })
        {
            foreach (int b in group)
            {
                using var scope = NewDisposeScope();
                var batch = collator.Collate([features[order[2 * b]], features[order[2 * b + 1]]]);
                (byHand.Forward(batch).Loss! / group.Length).backward();
            }
            opt.Step();
            opt.ZeroGrad();
        }
        foreach (var ((name, a), (_, b)) in viaTrainer.named_parameters().Zip(byHand.named_parameters()))
            ParityAssert.Close(name, b, a, 1e-6);
    }

    [Fact]
    public void Eval_Delay_With_The_Epoch_Strategy_Counts_Epochs_Reached()
    {
        // DefaultFlowCallback.on_epoch_end evaluates when eval_delay <= state.epoch (1.0 after the first epoch).
        var features = RandomFeatures(4, 40, 22, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, NumTrainEpochs = 3, EvalStrategy = IntervalStrategy.Epoch, EvalDelay = 1, SaveStrategy = IntervalStrategy.No };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, features);
        trainer.Train();
        Assert.Equal([1.0, 2.0, 3.0], trainer.State.LogHistory.Where(h => h.ContainsKey("eval_loss")).Select(h => (double)h["epoch"]!));
    }

    [Fact]
    public void Resuming_From_An_Epochs_Last_Step_Runs_That_Epochs_End_First()
    {
        // A steps checkpoint on an epoch's last step precedes that epoch's end-of-epoch log and evaluation (which draw
        // from the generator when dropout is on): the resumed run must do them, then continue, as the uninterrupted one.
        var features = RandomFeatures(8, 40, 23, 3);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 3 });
        using var tmp = TestPaths.TempDir();
        TrainingArguments Args(string dir) => new()
        {
            OutputDir = dir, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 3, LearningRate = 1e-2, Seed = 9,
            SaveStrategy = IntervalStrategy.Steps, SaveSteps = 2, LoggingStrategy = IntervalStrategy.Epoch, EvalStrategy = IntervalStrategy.Epoch,
        };
        DebertaForSequenceClassification NewModel(int seed)
        {
            random.manual_seed(seed);
            return new DebertaForSequenceClassification(config);
        }
        using var full = NewModel(9);
        using var fullTrainer = new Trainer(full, Args(tmp["full"]), new DataCollatorWithPadding(0), features, features);
        fullTrainer.Train();
        using var resumed = NewModel(10);
        using var resumedTrainer = new Trainer(resumed, Args(tmp["resumed"]), new DataCollatorWithPadding(0), features, features);
        resumedTrainer.Train(Path.Combine(tmp["full"], "checkpoint-2"));   // 2 steps per epoch: the end of epoch 1
        foreach (var ((name, a), (_, b)) in full.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, $"{name} differs after resuming at an epoch's end");
        static string Entries(TrainerState st) => string.Join(",", st.LogHistory.Where(h => h.ContainsKey("loss") || h.ContainsKey("eval_loss"))
            .Select(h => $"{h["step"]}:{h["loss"]}:{h["eval_loss"]}:{h["grad_norm"]}"));
        Assert.Equal(Entries(fullTrainer.State), Entries(resumedTrainer.State));
    }

    [Fact]
    public void A_Failed_Bf16_Resume_Leaves_The_Model_In_Fp32()
    {
        var features = RandomFeatures(4, 40, 24, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        using (var t = new Trainer(model, new TrainingArguments { OutputDir = tmp["a"], PerDeviceTrainBatchSize = 2, MaxSteps = 2, SaveSteps = 2 },
                   new DataCollatorWithPadding(0), features)) t.Train();
        // A checkpoint whose scheduler state is broken: refused after the model was switched to bf16.
        File.WriteAllText(Path.Combine(tmp["a"], "checkpoint-2", "scheduler.json"), "{ not json");
        using var t2 = new Trainer(model, new TrainingArguments { OutputDir = tmp["b"], PerDeviceTrainBatchSize = 2, MaxSteps = 5, Bf16 = true },
            new DataCollatorWithPadding(0), features);
        var e = Assert.Throws<InvalidDataException>(() => t2.Train(Path.Combine(tmp["a"], "checkpoint-2")));
        Assert.Contains("scheduler.json", e.Message);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Theory]
    [InlineData("last_epoch", null, "'last_epoch' is missing")]
    [InlineData("last_epoch", "\"two\"", "'last_epoch' is \"two\"")]
    [InlineData("total_loss_scalar", "[1]", "'total_loss_scalar' is [1]")]
    [InlineData("optimizer_steps", "3", "'optimizer_steps' is 3")]
    public void A_Damaged_Scheduler_Field_Is_Named_And_Leaves_The_Model_As_It_Was(string key, string? value, string message)
    {
        var features = RandomFeatures(4, 40, 24, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        using (var t = new Trainer(model, new TrainingArguments { OutputDir = tmp["a"], PerDeviceTrainBatchSize = 2, MaxSteps = 2, SaveSteps = 2, LearningRate = 1e-2 },
                   new DataCollatorWithPadding(0), features)) t.Train();
        string path = Path.Combine(tmp["a"], "checkpoint-2", "scheduler.json");
        var sched = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.True(sched.ContainsKey(key), $"scheduler.json has no '{key}'");
        if (value is null) sched.Remove(key); else sched[key] = JsonNode.Parse(value);
        File.WriteAllText(path, sched.ToJsonString());
        // A fresh model: resuming must not have loaded the checkpoint's weights into it when the state is refused.
        random.manual_seed(2);
        using var fresh = new DebertaForSequenceClassification(config);
        var before = fresh.parameters().Select(p => p.detach().clone()).ToList();
        using var t2 = new Trainer(fresh, new TrainingArguments { OutputDir = tmp["b"], PerDeviceTrainBatchSize = 2, MaxSteps = 4 },
            new DataCollatorWithPadding(0), features);
        var e = Assert.Throws<InvalidDataException>(() => t2.Train(Path.Combine(tmp["a"], "checkpoint-2")));
        Assert.Contains(path, e.Message);
        Assert.Contains(message, e.Message);
        Assert.All(fresh.parameters().Zip(before), p => Assert.True(p.First.eq(p.Second).all().item<bool>(), "a weight changed"));
        foreach (var b in before) b.Dispose();
    }

    [Fact]
    public void Save_Total_Limit_One_Keeps_Only_The_Best_Checkpoint_At_The_End_And_Counts_Are_Ints()
    {
        var features = RandomFeatures(8, 40, 25, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(2);
        using var model = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments
        {
            OutputDir = tmp.Path, PerDeviceTrainBatchSize = 4, NumTrainEpochs = 6, LearningRate = 0.5, LrSchedulerType = SchedulerType.Constant,
            EvalStrategy = IntervalStrategy.Epoch, SaveStrategy = IntervalStrategy.Epoch, MetricForBestModel = "loss", SaveTotalLimit = 1,
        };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, features);
        trainer.Train();
        // _rotate_checkpoints keeps the best beside the newest; train() then deletes all but the best.
        Assert.Equal([Path.GetFileName(trainer.State.BestModelCheckpoint!)], Directory.GetDirectories(tmp.Path, "checkpoint-*").Select(d => Path.GetFileName(d)!));
        Trainer.SaveMetrics(tmp.Path, "eval", new Dictionary<string, double> { ["eval_samples"] = 8, ["eval_loss"] = 0.5, ["epoch"] = 3 });
        string text = File.ReadAllText(Path.Combine(tmp.Path, "eval_results.json"));
        Assert.Contains("\"eval_samples\": 8\n", text);
        Assert.Contains("\"epoch\": 3.0", text);
    }

    [Fact]
    public void Save_Metrics_Merges_Into_All_Results_And_Refuses_A_Damaged_One_Without_Writing()
    {
        using var tmp = TestPaths.TempDir();
        Trainer.SaveMetrics(tmp.Path, "train", new Dictionary<string, double> { ["train_loss"] = 0.25 });
        Trainer.SaveMetrics(tmp.Path, "eval", new Dictionary<string, double> { ["eval_loss"] = 0.5 });
        var all = JsonNode.Parse(File.ReadAllText(tmp["all_results.json"]))!.AsObject();
        Assert.Equal(["eval_loss", "train_loss"], all.Select(p => p.Key));
        foreach (string damaged in new[] { "{\"train_loss\": 0.25", "[1, 2]" })
        {
            File.WriteAllText(tmp["all_results.json"], damaged);
            File.Delete(tmp["eval_results.json"]);
            var e = Assert.Throws<InvalidDataException>(() => Trainer.SaveMetrics(tmp.Path, "eval", new Dictionary<string, double> { ["eval_loss"] = 0.5 }));
            Assert.Contains(tmp["all_results.json"], e.Message);
            Assert.Equal(damaged, File.ReadAllText(tmp["all_results.json"]));
            Assert.False(File.Exists(tmp["eval_results.json"]), "eval_results.json was written");
        }
    }

    [Fact]
    public void Cancellation_Stops_After_A_Step_And_Saves_A_Checkpoint()
    {
        var features = RandomFeatures(8, 40, 3, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, MaxSteps = 20, SaveStrategy = IntervalStrategy.No };
        using var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features);
        using var cts = new CancellationTokenSource();
        trainer.Progress += p => { if (p.GlobalStep == 3) cts.Cancel(); };
        Assert.Throws<OperationCanceledException>(() => trainer.Train(cancellationToken: cts.Token));
        Assert.Equal(3, trainer.State.GlobalStep);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "checkpoint-3", "trainer_state.json")));
    }

    [Theory]
    [InlineData("steps", 3)]   // the evaluation of a steps strategy, inside the second epoch (a save is due after it)
    [InlineData("epoch", 4)]   // the end-of-epoch evaluation of the second epoch
    public void Cancelled_Inside_An_Evaluation_The_Run_Resumes_As_The_Uninterrupted_One(string strategy, int step)
    {
        // Dropout is on, and each evaluation draws the DataLoader's base seed from the generator: the checkpoint taken
        // inside an evaluation must hold the generator as it was before it, and resuming must run that evaluation.
        var features = RandomFeatures(8, 40, 23, 3);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 3 });
        using var tmp = TestPaths.TempDir();
        var interval = strategy == "steps" ? IntervalStrategy.Steps : IntervalStrategy.Epoch;
        TrainingArguments Args(string dir) => new()
        {
            OutputDir = dir, PerDeviceTrainBatchSize = 4, PerDeviceEvalBatchSize = 2, NumTrainEpochs = 3, LearningRate = 1e-2, Seed = 9,
            LoggingSteps = 1, EvalStrategy = interval, EvalSteps = 3, SaveStrategy = interval, SaveSteps = 3,
        };
        DebertaForSequenceClassification NewModel(int seed)
        {
            random.manual_seed(seed);
            return new DebertaForSequenceClassification(config);
        }
        static string Entries(TrainerState st) => string.Join(",", st.LogHistory.Where(h => h.ContainsKey("loss") || h.ContainsKey("eval_loss"))
            .Select(h => $"{h["step"]}:{h["loss"]}:{h["eval_loss"]}:{h["grad_norm"]}"));

        using var full = NewModel(9);
        using var fullTrainer = new Trainer(full, Args(tmp["full"]), new DataCollatorWithPadding(0), features, features);
        fullTrainer.Train();
        Assert.Contains(fullTrainer.State.LogHistory, h => h.ContainsKey("eval_loss") && (int)h["step"]! == step);

        using var cut = NewModel(9);
        using var cutTrainer = new Trainer(cut, Args(tmp["cut"]), new DataCollatorWithPadding(0), features, features);
        using var cts = new CancellationTokenSource();
        int batchesSeen = 0;
        cutTrainer.PredictionProgress += p => { if (cutTrainer.State.GlobalStep == step && p.Batch == 2) { batchesSeen = p.Batch; cts.Cancel(); } };
        Assert.Throws<OperationCanceledException>(() => cutTrainer.Train(cancellationToken: cts.Token));
        Assert.Equal(2, batchesSeen);
        Assert.DoesNotContain(cutTrainer.State.LogHistory, h => h.ContainsKey("eval_loss") && (int)h["step"]! == step);
        string checkpoint = Path.Combine(tmp["cut"], $"checkpoint-{step}");
        var sched = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "scheduler.json")))!;
        Assert.Equal(strategy == "steps", (bool)sched["step_evaluation_pending"]!);
        Assert.Equal(strategy == "steps", (bool)sched["step_save_pending"]!);
        Assert.Equal(strategy == "epoch", (bool)sched["epoch_end_pending"]!);

        using var resumed = NewModel(10);
        using var resumedTrainer = new Trainer(resumed, Args(tmp["resumed"]), new DataCollatorWithPadding(0), features, features);
        resumedTrainer.Train(checkpoint);
        Assert.Equal(Entries(fullTrainer.State), Entries(resumedTrainer.State));
        foreach (var ((name, a), (_, b)) in full.named_parameters().Zip(resumed.named_parameters()))
            Assert.True(ParityAssert.MaxAbsDiff(a, b) == 0, $"{name} differs after resuming inside an evaluation");
        Assert.Equal(fullTrainer.State.BestMetric, resumedTrainer.State.BestMetric);
    }

    [Fact]
    public void Training_Steps_Leak_No_Tensors()
    {
        var features = RandomFeatures(8, 40, 4, 2);
        var config = TinyConfigs.Tiny(c => c with { NumLabelsValue = 2 });
        using var tmp = TestPaths.TempDir();
        random.manual_seed(1);
        using var model = new DebertaForSequenceClassification(config);
        long Run(int steps)
        {
            var args = new TrainingArguments { OutputDir = tmp.Path, PerDeviceTrainBatchSize = 2, MaxSteps = steps, SaveStrategy = IntervalStrategy.No, LoggingSteps = 1 };
            using (var trainer = new Trainer(model, args, new DataCollatorWithPadding(0), features, features))
            {
                trainer.Train();
                trainer.Evaluate();
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        Run(2);
        long after2 = Run(2);
        long after10 = Run(10);
        Assert.True(after10 <= after2, $"live tensors grew from {after2} to {after10}");
    }
}
