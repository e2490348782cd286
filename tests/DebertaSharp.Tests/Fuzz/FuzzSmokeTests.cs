using DebertaSharp.Fuzz;

namespace DebertaSharp.Tests.Fuzz;

/// <summary>
/// The CI part of the fuzzing (docs/fuzzing.md): every seed of tools/fuzz/seeds, every regression input of
/// Fixtures/fuzz_regressions and a fixed set of deterministic mutations of each seed go through the same harnesses and
/// the same allowed-exception policy as the AFL++ runs (tools/fuzz/DebertaSharp.Fuzz/Harnesses.cs). No AFL++ needed.
/// </summary>
public sealed class FuzzSmokeTests
{
    /// <summary>Mutations per seed: about a minute for all readers together on two cores.</summary>
    private const int MutationsPerSeed = 400;

    /// <summary>The hang limit here: other tests share the CPUs, so five times the AFL++ figure.</summary>
    private static readonly TimeSpan SmokeLimit = FuzzHarnesses.TimeLimit * 5;

    private static string RepoRoot => Path.GetFullPath(Path.Combine(TestPaths.Fixtures, "..", "..", ".."));

    private static string SeedDir(string reader) => Path.Combine(RepoRoot, "tools", "fuzz", "seeds", reader);

    private static string RegressionDir(string reader) => TestPaths.Fixture("fuzz_regressions", reader);

    /// <summary>Every reader, for the theories.</summary>
    public static TheoryData<string> Readers()
    {
        var data = new TheoryData<string>();
        foreach (var h in FuzzHarnesses.All) data.Add(h.Name);
        return data;
    }

    [Fact]
    public void Every_Reader_Has_Seeds_And_Every_Seed_Folder_A_Reader()
    {
        var names = FuzzHarnesses.All.Select(h => h.Name).ToHashSet();
        foreach (string name in names)
            Assert.True(Directory.Exists(SeedDir(name)) && Directory.EnumerateFiles(SeedDir(name)).Any(), $"no seeds for reader '{name}'");
        foreach (string dir in Directory.EnumerateDirectories(Path.Combine(RepoRoot, "tools", "fuzz", "seeds")))
            Assert.Contains(Path.GetFileName(dir), names);
        foreach (string dir in Directory.EnumerateDirectories(TestPaths.Fixture("fuzz_regressions")))
            Assert.Contains(Path.GetFileName(dir), names);
    }

    [Fact]
    public void Policy_Refuses_Undocumented_Exceptions()
    {
        // The policy must be able to fail: a harness that throws something undocumented is a finding.
        var bad = new FuzzHarness("bad", (_, _) => throw new IndexOutOfRangeException("boom"));
        using var tmp = TestPaths.TempDir();
        FuzzOutcome o = FuzzHarnesses.Execute(bad, [1, 2, 3], tmp.Path);
        Assert.IsType<IndexOutOfRangeException>(o.Finding);
        var slow = new FuzzHarness("slow", (_, _) => Thread.Sleep(300));
        Assert.IsType<TimeoutException>(FuzzHarnesses.Execute(slow, [], tmp.Path, TimeSpan.FromMilliseconds(50)).Finding);
        var refused = FuzzHarnesses.Execute(FuzzHarnesses.Get("config_json"), "{\"hidden_size\": []}"u8.ToArray(), tmp.Path);
        Assert.Null(refused.Finding);
        Assert.IsType<DebertaConfigException>(refused.Refusal);
    }

    [Theory]
    [MemberData(nameof(Readers))]
    public void Seeds_Regressions_And_Mutations_Load_Or_Throw_Documented_Exceptions(string reader)
    {
        FuzzHarness harness = FuzzHarnesses.Get(reader);
        using var tmp = TestPaths.TempDir();
        var findings = new List<string>();
        int runs = 0, loaded = 0;

        void Check(string name, byte[] input)
        {
            FuzzOutcome o = FuzzHarnesses.Execute(harness, input, tmp.Path, SmokeLimit);
            runs++;
            if (o.Finding is not null && Environment.GetEnvironmentVariable("DEBERTASHARP_FUZZ_SAVE") is { Length: > 0 } save)
            {
                // Triage aid: keep the breaking inputs (e.g. to copy into Fixtures/fuzz_regressions).
                Directory.CreateDirectory(Path.Combine(save, reader));
                File.WriteAllBytes(Path.Combine(save, reader, $"{findings.Count:D3}-{string.Concat(name.Split(Path.GetInvalidFileNameChars().Append(' ').ToArray()))}"), input);
            }
            if (o.Finding is { } f)
                findings.Add($"{reader} / {name}: {f.GetType().FullName}: {f.Message}\n{string.Join(" <- ", (f.StackTrace ?? "").Split('\n').Take(4).Select(l => l.Trim()))}");
            else if (o.Refusal is null)
                loaded++;
        }

        string[] seeds = Directory.GetFiles(SeedDir(reader)).Order(StringComparer.Ordinal).ToArray();
        foreach (string seed in seeds) Check("seed " + Path.GetFileName(seed), File.ReadAllBytes(seed));
        if (Directory.Exists(RegressionDir(reader)))
            foreach (string file in Directory.GetFiles(RegressionDir(reader)).Order(StringComparer.Ordinal))
                if (Path.GetFileName(file) != "README.md")
                    Check("regression " + Path.GetFileName(file), File.ReadAllBytes(file));
        // Fixed RNG seed per reader: the same mutations every run (a failure is reproducible from its name).
        var rng = new Random(Stable(reader));
        foreach (string seed in seeds)
        {
            byte[] original = File.ReadAllBytes(seed);
            for (int i = 0; i < MutationsPerSeed; i++)
            {
                var (bytes, how) = Mutate(original, rng);
                Check($"mutation {i} of {Path.GetFileName(seed)} ({how})", bytes);
            }
        }
        Assert.True(findings.Count == 0, $"{findings.Count} of {runs} inputs broke the policy:\n" + string.Join("\n", findings.Take(20)));
        // The seeds include loadable files: a harness that refuses everything is not testing the reader.
        Assert.True(loaded > 0, $"{reader}: no input loaded");
    }

    private static int Stable(string s)
    {
        int h = 17;
        foreach (char c in s) h = unchecked(h * 31 + c);
        return h;
    }

    /// <summary>One deterministic mutation: bit flips, interesting bytes, truncation, insertion, deletion or a copied
    /// chunk, at positions biased to the first and last kilobyte (headers, zip directories) of large files.</summary>
    internal static (byte[] Bytes, string How) Mutate(byte[] input, Random rng)
    {
        int Pos(int length)
        {
            if (length <= 0) return 0;
            return rng.Next(3) switch
            {
                0 => rng.Next(Math.Min(length, 1024)),
                1 => Math.Max(0, length - 1 - rng.Next(Math.Min(length, 1024))),
                _ => rng.Next(length),
            };
        }
        var b = new List<byte>(input);
        var how = new List<string>();
        int steps = 1 + rng.Next(3);
        for (int s = 0; s < steps; s++)
        {
            int p = Pos(b.Count);
            switch (rng.Next(6))
            {
                case 0 when b.Count > 0:
                    b[p] ^= (byte)(1 << rng.Next(8)); how.Add($"flip@{p}"); break;
                case 1 when b.Count > 0:
                    byte[] interesting = [0, 0xFF, 0x7F, 0x80, (byte)'"', (byte)'{', (byte)'[', (byte)'\n', (byte)',', (byte)'9'];
                    b[p] = interesting[rng.Next(interesting.Length)]; how.Add($"set@{p}"); break;
                case 2:
                    b.RemoveRange(p, b.Count - p); how.Add($"truncate@{p}"); break;
                case 3:
                    int n = 1 + rng.Next(16);
                    var ins = new byte[n]; rng.NextBytes(ins); b.InsertRange(p, ins); how.Add($"insert{n}@{p}"); break;
                case 4 when b.Count > 0:
                    int d = Math.Min(b.Count - p, 1 + rng.Next(64)); b.RemoveRange(p, d); how.Add($"delete{d}@{p}"); break;
                default:
                    if (b.Count == 0) break;
                    int src = Pos(b.Count), len = Math.Min(b.Count - src, 1 + rng.Next(64));
                    b.InsertRange(Pos(b.Count), b.GetRange(src, len)); how.Add($"copy{len}"); break;
            }
        }
        return (b.ToArray(), string.Join("+", how));
    }
}
