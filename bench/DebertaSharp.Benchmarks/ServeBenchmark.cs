using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;
using DebertaSharp.Server;
using TorchSharp;

namespace DebertaSharp.Benchmarks;

/// <summary>
/// <c>serve</c>: <c>deberta serve</c>'s server on loopback with a microsoft/deberta-base-shaped text-classification
/// model (random weights, 2 labels, the real deberta-base vocabulary), driven by 1, 8 and 32 concurrent clients sending
/// one short text per request for a bounded time; beside it the library pipeline's own batched throughput in the same
/// process. Prints <c>pipeline texts_s=&lt;n&gt;</c> and <c>serve clients=&lt;n&gt; rps=&lt;n&gt; p50_ms=&lt;n&gt;
/// p99_ms=&lt;n&gt; mean_batch=&lt;n&gt;</c> (plus <c>worker_busy</c>, the share of the time the batch worker spent in
/// pipeline runs).
/// </summary>
internal static class ServeBenchmark
{
    private const string Usage = "usage: DebertaSharp.Benchmarks serve [--seconds N (per client count, default 15)] [--clients 1,8,32] [--threads 2]";

    private static readonly string[] Sentences =
    [
        "The food was great but the service was slow.", "I would not go back there again.", "What a wonderful film!",
        "The plot made no sense at all.", "Friendly staff and a nice view.", "Cold coffee, stale bread.",
        "One of the best performances this year.", "The sound was too loud to enjoy it.",
    ];

    public static int Run(string[] args)
    {
        double seconds = 15;
        int[] clientCounts = [1, 8, 32];
        int threads = 2;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds" when i + 1 < args.Length: seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--clients" when i + 1 < args.Length: clientCounts = [.. args[++i].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))]; break;
                case "--threads" when i + 1 < args.Length: threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine(Usage); return 2;
            }
        }
        torch.set_num_threads(threads);
        NativeAllocator.RetainFreedMemory();   // as the deberta CLI does
        Console.WriteLine(BenchSupport.CpuFlagsLine());
        Console.WriteLine(BenchSupport.MklDispatchLine());
        Console.WriteLine($"# text-classification, microsoft/deberta-base shape, random weights, fp32, {threads} threads; short texts; {seconds} s per client count; loopback");

        string dir = Directory.CreateTempSubdirectory("debertasharp-serve-bench-").FullName;
        try
        {
            torch.random.manual_seed(0);
            using (var model = new DebertaForSequenceClassification(DebertaConfig.Base with { NumLabelsValue = 2 }))
                model.SavePretrained(dir);
            string vocab = FindVocabulary();
            foreach (string f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(vocab, f), Path.Combine(dir, f));

            // The library's own batched throughput, in the same process.
            using (var pipeline = PipelineFactory.Create("text-classification", dir))
            {
                var texts = new JsonArray([.. Enumerable.Range(0, 64).Select(i => (JsonNode?)JsonValue.Create(Sentences[i % Sentences.Length]))]);
                pipeline.Run(texts, new JsonObject { ["batch_size"] = 32 });   // warm-up
                var clock = Stopwatch.StartNew();
                int done = 0;
                while (clock.Elapsed.TotalSeconds < seconds / 2 || done == 0)
                {
                    pipeline.Run(texts.DeepClone(), new JsonObject { ["batch_size"] = 32 });
                    done += texts.Count;
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pipeline texts_s={done / clock.Elapsed.TotalSeconds:F1}"));
            }

            return RunServer(dir, clientCounts, seconds).GetAwaiter().GetResult();
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<int> RunServer(string dir, int[] clientCounts, double seconds)
    {
        await using var server = await InferenceServer.StartAsync(new ServerOptions { ModelDir = dir, Task = "text-classification", Port = 0 });
        await server.Ready;
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        async Task<double> Post(int k)
        {
            string body = $"{{\"inputs\": {JsonValue.Create(Sentences[k % Sentences.Length]).ToJsonString()}}}";
            var clock = Stopwatch.StartNew();
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync("/", content);
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsStringAsync();
            return clock.Elapsed.TotalMilliseconds;
        }
        await Post(0);   // warm-up
        foreach (int clients in clientCounts)
        {
            var (sum0, count0, busy0) = await BatchSums(http);
            var latencies = new List<double>();
            var clock = Stopwatch.StartNew();
            var tasks = Enumerable.Range(0, clients).Select(async c =>
            {
                var mine = new List<double>();
                for (int k = c; clock.Elapsed.TotalSeconds < seconds; k += clients) mine.Add(await Post(k));
                lock (latencies) latencies.AddRange(mine);
            }).ToList();
            await Task.WhenAll(tasks);
            double elapsed = clock.Elapsed.TotalSeconds;
            var (sum1, count1, busy1) = await BatchSums(http);
            latencies.Sort();
            double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)];
            double meanBatch = count1 > count0 ? (sum1 - sum0) / (count1 - count0) : 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"serve clients={clients} rps={latencies.Count / elapsed:F1} p50_ms={P(0.5):F1} p99_ms={P(0.99):F1} mean_batch={meanBatch:F2} worker_busy={(busy1 - busy0) / elapsed:F2}"));
        }
        await server.StopAsync();
        return 0;
    }

    /// <summary>deberta_batch_size's sum and count, and deberta_batch_seconds_total, from /metrics.</summary>
    private static async Task<(double Sum, double Count, double Seconds)> BatchSums(HttpClient http)
    {
        string text = await http.GetStringAsync("/metrics");
        double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Value("deberta_batch_size_sum"), Value("deberta_batch_size_count"), Value("deberta_batch_seconds_total"));
    }

    /// <summary>tests/DebertaSharp.Tests/Fixtures/deberta-base-vocab (microsoft/deberta-base's vocabulary), found above the binary.</summary>
    private static string FindVocabulary()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "DebertaSharp.Tests", "Fixtures", "deberta-base-vocab");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/DebertaSharp.Tests/Fixtures/deberta-base-vocab not found above " + AppContext.BaseDirectory);
    }
}
