namespace DebertaSharp.Cli;

/// <summary><c>deberta forward</c>: not yet implemented (issue 2).</summary>
internal static class ForwardCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => throw new NotImplementedException("forward");
}
