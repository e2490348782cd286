using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DebertaSharp.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Benchmarks;

/// <summary>
/// <c>train</c>: times one optimizer step of <see cref="DebertaForSequenceClassification"/> at microsoft/deberta-base's
/// shape (random weights, fp32, num_labels 2) as <see cref="Trainer"/> runs it — forward with labels in train mode,
/// backward, <c>clip_grad_norm_</c> at 1.0, <see cref="AdamW"/> step, zero grad, each inside a dispose scope — against
/// the forward alone (eval mode, no grad) on the same batch, interleaved step/forward per repetition after warm-up.
/// Prints <c>cpu_flags ...</c>, then per shape (with <c>--breakdown</c> also the median time of each phase of the step)
/// <c>train &lt;B&gt;x&lt;S&gt; step_ms=&lt;median&gt; forward_ms=&lt;median&gt; step_over_forward=&lt;ratio&gt; peak_rss_mb=&lt;n&gt;</c>.
/// </summary>
internal static class TrainBenchmark
{
    private const string Usage = "usage: train [--shapes BxS,...] [--repeats N] [--warmup N] [--threads N] [--lr X] [--weight-decay X] [--breakdown]";

    public static int Run(string[] args)
    {
        string shapesArg = "8x128";
        int threads = 2, repeats = 7, warmup = 1;
        bool breakdown = false;
        double lr = 2e-5, weightDecay = 0.01, maxGradNorm = 1.0;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--shapes": shapesArg = args[++i]; break;
                    case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--warmup": warmup = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--lr": lr = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--weight-decay": weightDecay = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--breakdown": breakdown = true; break;
                    default:
                        Console.Error.WriteLine($"unknown argument '{args[i]}'; {Usage}");
                        return 2;
                }
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException)
        {
            Console.Error.WriteLine($"bad arguments ({e.Message}); {Usage}");
            return 2;
        }
        (int B, int S)[] shapes;
        try
        {
            shapes = [.. shapesArg.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            {
                var p = s.Split('x');
                if (p.Length != 2) throw new FormatException($"shape '{s}' is not BxS");
                return (B: int.Parse(p[0], CultureInfo.InvariantCulture), S: int.Parse(p[1], CultureInfo.InvariantCulture));
            })];
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            Console.Error.WriteLine($"bad --shapes ({e.Message}); {Usage}");
            return 2;
        }
        if (repeats < 1 || warmup < 0 || threads < 1 || shapes.Length == 0 || shapes.Any(x => x.B < 1 || x.S < 1 || x.S > DebertaConfig.Base.MaxPositionEmbeddings))
        {
            Console.Error.WriteLine($"repeats >= 1, warmup >= 0, threads >= 1 and shapes with B >= 1, 1 <= S <= {DebertaConfig.Base.MaxPositionEmbeddings}; {Usage}");
            return 2;
        }

        torch.set_num_threads(threads);
        NativeAllocator.RetainFreedMemory();   // as the deberta CLI does
        string mklLine = BenchSupport.MklDispatchLine();
        torch.set_num_interop_threads(1);
        torch.manual_seed(0);
        var config = DebertaConfig.Base with { NumLabelsValue = 2 };
        Console.WriteLine($"# DebertaForSequenceClassification (microsoft/deberta-base shape, num_labels 2, random weights, fp32): one optimizer step " +
            $"(forward with labels, backward, clip_grad_norm_ {maxGradNorm.ToString(CultureInfo.InvariantCulture)}, AdamW lr={lr.ToString("0.##########", CultureInfo.InvariantCulture)} " +
            $"weight_decay={weightDecay.ToString(CultureInfo.InvariantCulture)}, zero grad) vs the eval forward (no grad), same batch; threads={threads}; " +
            $"median of {repeats} interleaved repetitions after {warmup} warm-up; {RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} cores");
        Console.WriteLine(BenchSupport.CpuFlagsLine());
        Console.WriteLine(mklLine);

        using var model = new DebertaForSequenceClassification(config);
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, p.parameter)), lr, 0.9, 0.999, 1e-8, weightDecay);
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();

        foreach (var (b, s) in shapes)
        {
            var rng = new Random(b * 1000 + s);
            var ids = new long[b * s];
            for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(4, config.VocabSize);
            var labelValues = new long[b];
            for (int i = 0; i < b; i++) labelValues[i] = rng.Next(0, 2);
            using var inputIds = torch.tensor(ids, new long[] { b, s }, dtype: ScalarType.Int64);
            using var mask = torch.ones(b, s, dtype: ScalarType.Int64);
            using var labels = torch.tensor(labelValues, new long[] { b }, dtype: ScalarType.Int64);

            // Phase times of the timed steps (forward with labels incl. reading the loss, backward, clip, AdamW, zero grad).
            var phases = new List<double[]>();
            bool recordPhases = false;

            void TrainStep()
            {
                model.train();
                using var scope = torch.NewDisposeScope();
                long t0 = Stopwatch.GetTimestamp();
                var output = model.Forward(inputIds, mask, labels: labels);
                var loss = output.Loss ?? throw new InvalidOperationException("the model returned no loss");
                float l = loss.detach().item<float>(); // the Trainer reads every micro-batch's loss
                if (!float.IsFinite(l)) throw new InvalidOperationException($"non-finite training loss {l}");
                long t1 = Stopwatch.GetTimestamp();
                loss.backward();
                long t2 = Stopwatch.GetTimestamp();
                _ = nn.utils.clip_grad_norm_(trainable, maxGradNorm);
                long t3 = Stopwatch.GetTimestamp();
                optimizer.LearningRate = lr;
                optimizer.Step();
                long t4 = Stopwatch.GetTimestamp();
                optimizer.ZeroGrad();
                long t5 = Stopwatch.GetTimestamp();
                if (recordPhases)
                    phases.Add([Ms(t0, t1), Ms(t1, t2), Ms(t2, t3), Ms(t3, t4), Ms(t4, t5)]);
            }

            void Forward()
            {
                model.eval();
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var output = model.Forward(inputIds, mask);
                _ = output.Logits.shape; // the forward is synchronous on CPU
            }

            BenchSupport.ResetPeakRss();
            for (int i = 0; i < warmup; i++)
            {
                TrainStep(); // the first step also allocates AdamW's state
                Forward();
            }
            var stepTimes = new double[repeats];
            var forwardTimes = new double[repeats];
            recordPhases = true;
            for (int i = 0; i < repeats; i++)
            {
                stepTimes[i] = Time(TrainStep);
                forwardTimes[i] = Time(Forward);
            }
            double step = BenchSupport.Median(stepTimes), forward = BenchSupport.Median(forwardTimes);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"train {b}x{s} step_ms={step:F1} forward_ms={forward:F1} step_over_forward={step / forward:F2} peak_rss_mb={BenchSupport.PeakRssMb():F0}"));
            if (breakdown)
            {
                double P(int k) => BenchSupport.Median(phases.Select(p => p[k]));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"train_breakdown {b}x{s} forward_train_ms={P(0):F1} backward_ms={P(1):F1} clip_ms={P(2):F1} adamw_ms={P(3):F1} zero_grad_ms={P(4):F1}"));
            }
        }
        return 0;
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    private static double Time(Action run)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
}
