using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Benchmarks;

/// <summary>
/// <c>tokenize</c>: encodes at least 4 MB of mixed-language text (built from the fixture corpus) with
/// <see cref="DebertaTokenizerFast"/> and with Hugging Face's Rust tokenizers (Tokenizers.DotNet) on the same
/// tokenizer.json, one thread each in this process, then a batch on all cores; prints tokens per second.
/// </summary>
internal static class TokenizeBenchmark
{
    public static int Run(string[] args)
    {
        string root = FindRepoRoot();
        string tokDir = Path.Combine(root, "tests/DebertaSharp.Tests/Fixtures/tokenizer/v4_template");
        string corpusPath = Path.Combine(root, "tests/DebertaSharp.Tests/Fixtures/tokenizer/corpus_public.json");
        double megabytes = 4.0;
        int repeats = 3;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tokenizer": tokDir = args[++i]; break;
                case "--mb": megabytes = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine("usage: tokenize [--tokenizer DIR] [--mb 4] [--repeats 3]");
                    return 2;
            }
        }
        string jsonPath = Path.Combine(tokDir, "tokenizer.json");
        var docs = BuildDocuments(corpusPath, megabytes, out long bytes);
        Console.WriteLine($"# {docs.Count} documents, {bytes / 1e6:F2} MB UTF-8, tokenizer {jsonPath}");

        var ours = DebertaTokenizerFast.FromPretrained(tokDir);
        var rust = new Tokenizers.DotNet.Tokenizer(vocabPath: jsonPath);

        // Same ids? (the Rust wrapper encodes with special tokens)
        int mismatches = 0;
        foreach (var d in docs.Take(200))
        {
            var a = ours.Encode(d).Ids;
            var b = rust.Encode(d);
            if (a.Length != b.Length || !a.Zip(b).All(p => p.First == (int)p.Second)) mismatches++;
        }
        Console.WriteLine($"# id mismatches on the first 200 documents: {mismatches}");

        // Warm up both (JIT, caches).
        long tokens = 0;
        foreach (var d in docs) tokens += ours.Encode(d).Length;
        foreach (var d in docs) rust.Encode(d);

        double oursBest = double.MaxValue, rustBest = double.MaxValue;
        long allocated = 0;
        for (int r = 0; r < repeats; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            foreach (var d in docs) ours.Encode(d);
            oursBest = Math.Min(oursBest, sw.Elapsed.TotalSeconds);
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            sw.Restart();
            foreach (var d in docs) rust.Encode(d);
            rustBest = Math.Min(rustBest, sw.Elapsed.TotalSeconds);
        }
        double oursRate = tokens / oursBest, rustRate = tokens / rustBest;
        Console.WriteLine(FormattableString.Invariant(
            $"tokenize debertasharp_tok_s={oursRate:F0} rust_tok_s={rustRate:F0} ratio={oursRate / rustRate:F2}"));
        Console.WriteLine(FormattableString.Invariant(
            $"tokenize alloc_bytes_per_token={(double)allocated / tokens:F1} tokens={tokens}"));

        // Batch on all cores: ours with EncodeBatchParallel; Rust with one tokenizer per worker thread.
        int threads = Environment.ProcessorCount;
        var rustPerThread = new ThreadLocal<Tokenizers.DotNet.Tokenizer>(() => new Tokenizers.DotNet.Tokenizer(vocabPath: jsonPath), trackAllValues: true);
        ours.EncodeBatchParallel(docs);
        Parallel.ForEach(docs, d => rustPerThread.Value!.Encode(d));
        double oursBatch = double.MaxValue, rustBatch = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            ours.EncodeBatchParallel(docs);
            oursBatch = Math.Min(oursBatch, sw.Elapsed.TotalSeconds);
            sw.Restart();
            Parallel.ForEach(docs, d => rustPerThread.Value!.Encode(d));
            rustBatch = Math.Min(rustBatch, sw.Elapsed.TotalSeconds);
        }
        Console.WriteLine(FormattableString.Invariant(
            $"tokenize_batch threads={threads} debertasharp_tok_s={tokens / oursBatch:F0} rust_tok_s={tokens / rustBatch:F0} ratio={rustBatch / oursBatch:F2}"));
        return mismatches == 0 ? 0 : 1;
    }

    /// <summary>Documents of about 2 KB made of consecutive corpus lines, repeated until <paramref name="megabytes"/> MB.</summary>
    private static List<string> BuildDocuments(string corpusPath, double megabytes, out long bytes)
    {
        var lines = JsonSerializer.Deserialize<string[]>(File.ReadAllText(corpusPath))!.Where(l => l.Length > 0).ToArray();
        var docs = new List<string>();
        bytes = 0;
        long target = (long)(megabytes * 1_000_000);
        var sb = new System.Text.StringBuilder();
        int k = 0;
        while (bytes < target)
        {
            sb.Clear();
            while (sb.Length < 2000) { sb.Append(lines[k % lines.Length]).Append('\n'); k++; }
            string d = sb.ToString();
            docs.Add(d);
            bytes += System.Text.Encoding.UTF8.GetByteCount(d);
        }
        return docs;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "DebertaSharp.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
