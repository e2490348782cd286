namespace DebertaSharp.Benchmarks;

internal static class ForwardBenchmark
{
    public static int Run(string[] args) => throw new NotImplementedException();
}
