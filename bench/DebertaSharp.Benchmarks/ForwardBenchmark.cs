using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Benchmarks;

/// <summary>
/// <c>forward</c>: times <see cref="DebertaModel"/> at microsoft/deberta-base's shape (random weights, fp32, no grad)
/// against ONNX Runtime on the anchor graph (anchors/deberta_base_graph.onnx, Hugging Face's DebertaModel exported
/// with the same configuration), in the same process, with the same thread count, the engines alternating per shape in
/// pairs of forwards: the second of each pair is timed, the first (which follows the other engine) goes on a comment line.
/// Prints the CPU's speed flags, then <c>&lt;B&gt;x&lt;S&gt; debertasharp_ms=&lt;median&gt; ort_ms=&lt;median&gt; ratio=&lt;debertasharp/ort&gt;</c>
/// per shape (ONNX Runtime always in fp32; with <c>--dtype bfloat16</c> DebertaSharp runs bf16 weights and adds
/// <c>max_abs_diff_vs_fp32=&lt;x&gt;</c>, its last hidden state against the same model in fp32), then
/// <c>DebertaForMaskedLM 8x128 debertasharp_ms=&lt;median&gt;</c> (its 50k-wide output layer included), then peak memory.
/// </summary>
internal static class ForwardBenchmark
{
    private const long AnchorWeightBytes = 553_933_824; // anchors/README.md: the graph's external float data

    public static int Run(string[] args)
    {
        string shapesArg = "1x128,8x128,32x128,1x512";
        int threads = 2, runs = 8, largeRuns = 3;
        bool skipOrt = false, mlm = true, retain = true;
        long? bandRows = null;
        var dtype = ScalarType.Float32;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--shapes": shapesArg = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--large-runs": largeRuns = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--skip-ort": skipOrt = true; break;
                case "--skip-mlm": mlm = false; break;
                case "--no-retain": retain = false; break;
                case "--band-rows": bandRows = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--dtype" when i + 1 < args.Length && args[i + 1] is "float32" or "bfloat16":
                    dtype = args[++i] == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'; usage: forward [--shapes BxS,...] [--threads N] [--runs N] [--large-runs N] [--dtype float32|bfloat16] [--skip-ort] [--skip-mlm] [--no-retain] [--band-rows N]");
                    return 2;
            }
        }
        var shapes = shapesArg.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
        {
            var p = s.Split('x');
            return (B: int.Parse(p[0], CultureInfo.InvariantCulture), S: int.Parse(p[1], CultureInfo.InvariantCulture));
        }).ToArray();

        torch.set_num_threads(threads);
        torch.set_num_interop_threads(1);
        torch.manual_seed(0);
        // Freed activations stay in the C heap for the next forward (NativeAllocator), as in the deberta CLI.
        bool retained = retain && NativeAllocator.RetainFreedMemory();
        string flags = BenchSupport.CpuFlagsLine();
        Console.WriteLine(flags);
        Console.WriteLine(BenchSupport.MklDispatchLine());
        string dtypeName = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32";
        Console.WriteLine($"# DebertaModel (microsoft/deberta-base shape, random weights, {dtypeName}, no grad) vs ONNX Runtime {OrtVersion()} (float32); threads={threads}; median of {runs} runs ({largeRuns} where B*S >= 4096), the engines alternating in pairs of runs (the second of each pair timed), after a warm-up and a forward measuring memory; {RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} cores; freed native memory retained: {(retained ? "yes" : "no")}");
        if (dtype == ScalarType.BFloat16 && !CpuFeatures.HasBf16) Console.WriteLine($"# {CpuFeatures.Bf16EmulatedNotice}");

        using var fp32Model = new DebertaModel(DebertaConfig.Base);
        fp32Model.eval();
        // The timed model: the fp32 one, or a bf16 copy of it (the fp32 one stays as the accuracy reference).
        using var bf16Model = dtype == ScalarType.BFloat16 ? CastCopy(fp32Model, dtype) : null;
        var model = bf16Model ?? fp32Model;
        // Tuning hook: the block size of the relative terms (DebertaEncoder.RelativeBandRows; 0 = never blocked).
        if (bandRows is long rows)
        {
            model.Encoder.RelativeBandRows = rows;
            Console.WriteLine($"# relative terms in blocks of {rows} rows (default {DebertaSharp.Modeling.DebertaEncoder.DefaultRelativeBandRows})");
        }
        using var session = skipOrt ? null : CreateOrtSession(threads);

        double oursPeak = 0, ortPeak = 0;
        foreach (var (b, s) in shapes)
        {
            int n = (long)b * s >= 4096 ? largeRuns : runs;
            long[] ids = RandomIds(b, s, seed: b * 1000 + s);

            void Ours()
            {
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var inputIds = torch.tensor(ids, new long[] { b, s }, dtype: ScalarType.Int64);
                var mask = torch.ones(b, s, dtype: ScalarType.Int64);
                var output = model.Forward(inputIds, mask);
                _ = output.LastHiddenState.shape; // the forward is synchronous on CPU
            }
            void Ort()
            {
                var idsT = new DenseTensor<long>(ids, new[] { b, s });
                var maskT = new DenseTensor<long>(Enumerable.Repeat(1L, b * s).ToArray(), new[] { b, s });
                using var results = session!.Run(new[]
                {
                    NamedOnnxValue.CreateFromTensor("input_ids", idsT),
                    NamedOnnxValue.CreateFromTensor("attention_mask", maskT),
                });
                _ = results.First().AsTensor<float>().Length;
            }

            // Memory first, one engine at a time: peak resident memory and minor faults of a warm-up and one forward.
            BenchSupport.ResetPeakRss();
            long faults0 = BenchSupport.MinorFaults();
            Ours();
            Ours();
            oursPeak = Math.Max(oursPeak, BenchSupport.PeakRssMb());
            double oursFaults = (BenchSupport.MinorFaults() - faults0) / 2.0;
            double ortFaults = double.NaN;
            if (session is not null)
            {
                BenchSupport.ResetPeakRss();
                long ortFaults0 = BenchSupport.MinorFaults();
                Ort();
                Ort();
                ortPeak = Math.Max(ortPeak, BenchSupport.PeakRssMb());
                ortFaults = (BenchSupport.MinorFaults() - ortFaults0) / 2.0;
            }

            // Then the times, the two engines alternating in pairs of runs: these shared machines speed up and slow
            // down by a third within a minute, which timing one engine's runs after the other's would put into the
            // ratio. Each engine's first run of a pair follows the other engine's forward, whose weights have pushed its
            // own out of the caches (ONNX Runtime's 554 MB exceed this machine's 300 MB L3); the second follows its own
            // forward, as every forward of a process that runs one engine does. The medians of the second runs make the
            // ratio; those of the first are printed after it.
            var oursTimes = new double[n];
            var ortTimes = new double[n];
            var oursCold = new double[n];
            var ortCold = new double[n];
            for (int i = 0; i < n; i++)
            {
                // Without ONNX Runtime every run follows one of ours: no pairs, and nothing to print for the first runs.
                if (session is not null) oursCold[i] = Time(Ours);
                oursTimes[i] = Time(Ours);
                if (session is null) continue;
                ortCold[i] = Time(Ort);
                ortTimes[i] = Time(Ort);
            }
            double ours = BenchSupport.Median(oursTimes);
            string ortPart = "ort_ms=skipped ratio=n/a", coldLine = "";
            if (session is not null)
            {
                double ort = BenchSupport.Median(ortTimes);
                ortPart = $"ort_ms={ort.ToString("F1", CultureInfo.InvariantCulture)} ratio={(ours / ort).ToString("F3", CultureInfo.InvariantCulture)}";
                double oc = BenchSupport.Median(oursCold), rc = BenchSupport.Median(ortCold);
                coldLine = FormattableString.Invariant($"# {b}x{s} first run after the other engine: debertasharp_ms={oc:F1} ort_ms={rc:F1} ratio={oc / rc:F3}");
            }
            string diffPart = "";
            if (bf16Model is not null)
            {
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var inputIds = torch.tensor(ids, new long[] { b, s }, dtype: ScalarType.Int64);
                var mask = torch.ones(b, s, dtype: ScalarType.Int64);
                var reference = fp32Model.Forward(inputIds, mask).LastHiddenState;
                var low = bf16Model.Forward(inputIds, mask).LastHiddenState.to(ScalarType.Float32);
                diffPart = " max_abs_diff_vs_fp32=" + (low - reference).abs().max().item<float>().ToString("G3", CultureInfo.InvariantCulture);
            }
            Console.WriteLine($"{b}x{s} debertasharp_ms={ours.ToString("F1", CultureInfo.InvariantCulture)} {ortPart}{diffPart}");
            if (coldLine.Length > 0) Console.WriteLine(coldLine);
            Console.WriteLine(FormattableString.Invariant($"# {b}x{s} minor page faults per forward: debertasharp={oursFaults:F0} ort={ortFaults:F0}"));
        }
        if (mlm)
        {
            // DebertaForMaskedLM at 8x128: the encoder plus the transform and the [B, S, 50265] decoder product.
            torch.manual_seed(0);
            using var mlmModel = new DebertaForMaskedLM(DebertaConfig.Base);
            mlmModel.eval();
            if (dtype != ScalarType.Float32) mlmModel.to(dtype);
            long[] ids = RandomIds(8, 128, seed: 8128);
            double ms = BenchSupport.Median(TimeRuns(largeRuns, () =>
            {
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var output = mlmModel.Forward(torch.tensor(ids, new long[] { 8, 128 }, dtype: ScalarType.Int64), torch.ones(8, 128, dtype: ScalarType.Int64));
                _ = output.Logits.shape;
            }));
            Console.WriteLine($"DebertaForMaskedLM 8x128 debertasharp_ms={ms.ToString("F1", CultureInfo.InvariantCulture)}");
        }
        Console.WriteLine($"peak_rss_mb debertasharp={oursPeak:F0} ort={ortPeak:F0} (process peak resident memory while each engine ran; both models are loaded throughout)");
        return 0;
    }

    /// <summary>A copy of <paramref name="model"/> with its weights cast to <paramref name="dtype"/>.</summary>
    private static DebertaModel CastCopy(DebertaModel model, ScalarType dtype)
    {
        var copy = new DebertaModel(model.Config);
        copy.load_state_dict(model.state_dict());
        copy.to(dtype);
        copy.eval();
        return copy;
    }

    private static long[] RandomIds(int b, int s, int seed)
    {
        var rng = new Random(seed);
        var ids = new long[b * s];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(4, 1000);
        return ids;
    }

    private static double Time(Action run)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }

    private static double[] TimeRuns(int n, Action run)
    {
        run(); // warm-up
        var times = new double[n];
        for (int i = 0; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return times;
    }

    private static string OrtVersion() =>
        typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?";

    /// <summary>Copies the anchor graph next to a generated external-weights file (once; reused while its size is right) and opens it.</summary>
    private static InferenceSession CreateOrtSession(int threads)
    {
        string source = Path.Combine(AppContext.BaseDirectory, "anchors", "deberta_base_graph.onnx");
        string dir = Path.Combine(Path.GetTempPath(), "debertasharp-bench-anchor");
        Directory.CreateDirectory(dir);
        string graph = Path.Combine(dir, "deberta_base_graph.onnx");
        File.Copy(source, graph, overwrite: true);
        string weights = Path.Combine(dir, "deberta_base.weights");
        if (!File.Exists(weights) || new FileInfo(weights).Length != AnchorWeightBytes)
            WriteRandomWeights(weights);
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        return new InferenceSession(graph, options);
    }

    /// <summary>normal(0, 0.02) fp32 values, written through a temporary file.</summary>
    private static void WriteRandomWeights(string path)
    {
        string tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            const int chunk = 1 << 22; // floats
            long remaining = AnchorWeightBytes / 4;
            var gen = new torch.Generator(1234);
            var buffer = new float[chunk];
            while (remaining > 0)
            {
                int n = (int)Math.Min(chunk, remaining);
                using var t = torch.randn(n, generator: gen).mul_(0.02);
                t.data<float>().CopyTo(buffer, 0);
                f.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
                remaining -= n;
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
