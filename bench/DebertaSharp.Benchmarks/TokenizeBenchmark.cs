namespace DebertaSharp.Benchmarks;

internal static class TokenizeBenchmark
{
    public static int Run(string[] args) => throw new NotImplementedException();
}
