namespace DebertaSharp.Cli;

/// <summary><c>deberta tokenize</c>: not yet implemented (issue 3).</summary>
internal static class TokenizeCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => throw new NotImplementedException("tokenize");
}
