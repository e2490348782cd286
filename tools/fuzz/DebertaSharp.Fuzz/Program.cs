// AFL++ entry point: `DebertaSharp.Fuzz <reader>` under afl-fuzz (see tools/fuzz/run.sh), or
// `DebertaSharp.Fuzz <reader> --replay FILE...` to run saved inputs in-process and print each outcome.
using DebertaSharp.Fuzz;
using SharpFuzz;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: DebertaSharp.Fuzz <reader> [--replay FILE...]; readers: " + string.Join(", ", FuzzHarnesses.All.Select(h => h.Name)));
    return 2;
}
FuzzHarness harness = FuzzHarnesses.Get(args[0]);
string work = Directory.CreateTempSubdirectory("debertasharp-fuzz-").FullName;
try
{
    if (args.Length > 1 && args[1] == "--replay")
    {
        int findings = 0;
        foreach (string file in args.Skip(2))
        {
            FuzzOutcome o = FuzzHarnesses.Execute(harness, File.ReadAllBytes(file), work);
            string what = o.Finding is not null ? "FINDING " + o.Finding : o.Refusal is not null ? "refused: " + o.Refusal.GetType().Name + ": " + o.Refusal.Message : "loaded";
            Console.WriteLine($"{file} ({o.Elapsed.TotalMilliseconds:F0} ms): {what}");
            if (o.Finding is not null) findings++;
        }
        return findings == 0 ? 0 : 1;
    }
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        FuzzOutcome o = FuzzHarnesses.Execute(harness, buffer.ToArray(), work);
        // An escaping exception is what AFL++ records as a crash; the time limit is afl-fuzz's -t.
        if (o.Finding is not null and not TimeoutException) throw o.Finding;
    });
    return 0;
}
finally
{
    try { Directory.Delete(work, true); } catch (IOException) { }
}
