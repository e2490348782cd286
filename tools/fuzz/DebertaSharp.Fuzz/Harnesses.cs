// One harness per file reader, and the one policy for what a reader may do with untrusted bytes. Compiled into the
// AFL++ entry point (tools/fuzz/DebertaSharp.Fuzz) and, as a linked source file, into the test project's smoke run
// (tests/DebertaSharp.Tests/Fuzz/FuzzSmokeTests.cs), so both judge inputs the same way.
using System.Diagnostics;
using DebertaSharp.Serialization;
using DebertaSharp.TensorFlow;
using DebertaSharp.Tokenization;
using DebertaSharp.Training;

namespace DebertaSharp.Fuzz;

/// <summary>A reader fuzzed by <see cref="FuzzHarnesses"/>: its name (the seed and regression folder name) and its body.</summary>
/// <param name="Name">Folder name under tools/fuzz/seeds and Fixtures/fuzz_regressions.</param>
/// <param name="Run">Writes the input into the work folder and calls the loader; returns normally on success.</param>
internal sealed record FuzzHarness(string Name, Action<string, byte[]> Run);

/// <summary>The outcome of one input: null <see cref="Finding"/> when the reader loaded it or refused it as documented.</summary>
internal sealed record FuzzOutcome(string Reader, Exception? Refusal, Exception? Finding, TimeSpan Elapsed);

/// <summary>The harnesses and the allowed-exception policy.</summary>
internal static class FuzzHarnesses
{
    /// <summary>
    /// The most one input may take before it counts as a hang (the AFL++ run uses the same figure as <c>-t</c>).
    /// </summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The vocab/merges harness takes one input holding both files: the vocab.json bytes, one NUL byte, the merges.txt
    /// bytes (no NUL: everything is vocab.json, merges.txt is empty).
    /// </summary>
    public const byte VocabMergesSeparator = 0;

    /// <summary>Every harness, by name.</summary>
    public static IReadOnlyList<FuzzHarness> All { get; } =
    [
        new("safetensors", (dir, bytes) =>
        {
            string path = Write(dir, "model.safetensors", bytes);
            DisposeAll(SafeTensors.Load(path));
        }),
        new("torch_pickle", (dir, bytes) =>
        {
            // TorchPickle.Load picks the zip (PK\x03\x04) or the legacy (0x80 protocol byte) layout from the magic.
            string path = Write(dir, "pytorch_model.bin", bytes);
            DisposeAll(TorchPickle.Load(path));
        }),
        new("tokenizer_json", (dir, bytes) =>
        {
            string sub = Fresh(dir, "tok");
            Write(sub, "tokenizer.json", bytes);
            var tok = DebertaTokenizerFast.FromPretrained(sub);
            tok.Encode("Hello world, fuzz [MASK] test.");
        }),
        new("vocab_merges", (dir, bytes) =>
        {
            int cut = Array.IndexOf(bytes, VocabMergesSeparator);
            byte[] vocab = cut < 0 ? bytes : bytes[..cut];
            byte[] merges = cut < 0 ? [] : bytes[(cut + 1)..];
            string v = Write(dir, "vocab.json", vocab), m = Write(dir, "merges.txt", merges);
            var tok = new DebertaTokenizer(v, m);
            tok.Encode("Hello world, fuzz test.");
        }),
        // Validate too: it holds the size limits that stop a config.json from making the model constructors allocate
        // terabytes (what every model loading path runs before building a model).
        new("config_json", (dir, bytes) => DebertaConfig.FromFile(Write(dir, "config.json", bytes)).Validate()),
        new("tf_h5", (dir, bytes) =>
        {
            // The reader the TF loading path (TFCheckpoint, fromTf) uses for tf_model.h5.
            using var weights = KerasH5.Read(Write(dir, "tf_model.h5", bytes));
        }),
        new("csv", (dir, bytes) => DataFiles.Load(Write(dir, "train.csv", bytes))),
        new("tsv", (dir, bytes) => DataFiles.Load(Write(dir, "train.tsv", bytes))),
        new("jsonl", (dir, bytes) => DataFiles.Load(Write(dir, "train.jsonl", bytes))),
        new("conll", (dir, bytes) => DataFiles.LoadConll(Write(dir, "train.conll", bytes))),
        new("squad", (dir, bytes) => DataFiles.LoadSquad(Write(dir, "train.json", bytes))),
    ];

    /// <summary>The harness called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No harness has that name.</exception>
    public static FuzzHarness Get(string name) =>
        All.FirstOrDefault(h => h.Name == name)
        ?? throw new ArgumentException($"unknown reader '{name}'; known: {string.Join(", ", All.Select(h => h.Name))}", nameof(name));

    /// <summary>
    /// The policy: the exceptions a reader documents for bad input. Everything else that escapes a loader (a
    /// NullReferenceException, an IndexOutOfRangeException, an OverflowException, an OutOfMemoryException, a raw
    /// JsonException or a bare IOException, an ArgumentException the reader does not document...) is a finding.
    /// </summary>
    public static bool IsAllowed(Exception e) => e is CheckpointFormatException
        or TokenizerFormatException
        or DebertaConfigException
        or TrainingDataException;

    /// <summary>Runs one input through a harness in a fresh work folder and judges the outcome (exceptions and time).</summary>
    /// <param name="harness">The reader.</param>
    /// <param name="input">The file's bytes.</param>
    /// <param name="workRoot">A folder the harness may write to.</param>
    /// <param name="timeLimit">The hang limit; <see cref="TimeLimit"/> unless given (the smoke test allows more because
    /// other tests share the CPUs).</param>
    public static FuzzOutcome Execute(FuzzHarness harness, byte[] input, string workRoot, TimeSpan? timeLimit = null)
    {
        TimeSpan limit = timeLimit ?? TimeLimit;
        string dir = Fresh(workRoot, "in");
        var sw = Stopwatch.StartNew();
        Exception? refusal = null, finding = null;
        try
        {
            harness.Run(dir, input);
        }
        catch (Exception e) when (IsAllowed(e))
        {
            refusal = e;
        }
        catch (Exception e)
        {
            finding = e;
        }
        sw.Stop();
        if (finding is null && sw.Elapsed > limit)
            finding = new TimeoutException($"{harness.Name}: one input took {sw.Elapsed.TotalSeconds:F2} s (limit {limit.TotalSeconds} s)");
        return new FuzzOutcome(harness.Name, refusal, finding, sw.Elapsed);
    }

    private static string Fresh(string root, string name)
    {
        string dir = Path.Combine(root, name);
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Write(string dir, string name, byte[] bytes)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void DisposeAll(Dictionary<string, TorchSharp.torch.Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
