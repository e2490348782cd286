using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace DebertaSharp.Cli;

/// <summary>
/// Entry point of the <c>deberta</c> command-line tool, on System.CommandLine: one command per file under Commands/,
/// each with a <c>static Command Build()</c> registered in <see cref="Commands"/>. Exit codes: 0 success; 1 an error
/// thrown by the command (<c>deberta &lt;command&gt;: error: &lt;Type&gt;: &lt;message&gt;</c> on stderr); 2 a usage
/// error (<c>deberta &lt;command&gt;: &lt;message&gt;</c>); 130 cancelled (Ctrl-C).
/// </summary>
internal static class CliApp
{
    /// <summary>Exit code of a run cancelled by Ctrl-C (SIGINT), as shells report it.</summary>
    internal const int CancelledExitCode = 130;

    /// <summary>The tool's commands, in <c>--help</c> order. A new command is one file under Commands/ and one entry here.</summary>
    private static Command[] Commands() => [ForwardCommand.Build(), TokenizeCommand.Build(), TrainCommand.Build(), PipelineCommand.Build(), ServeCommand.Build(), ConvertCommand.Build()];

    /// <summary>The root command with every command registered (a fresh tree per call: System.CommandLine symbols are mutable).</summary>
    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("""
            DebertaSharp's command-line tool: runs Hugging Face DeBERTa checkpoints and tokenizers.
            Run `deberta <command> --help` for a command's options.
            """);
        foreach (var command in Commands()) root.Subcommands.Add(command);
        UseHelp(root);
        return root;
    }

    /// <summary>Runs the tool. Returns the process exit code; errors go to <paramref name="stderr"/>.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, handleProcessTermination: false, CancellationToken.None);

    /// <summary>
    /// Runs the tool; with <paramref name="handleProcessTermination"/> (the real process) Ctrl-C and SIGTERM cancel the
    /// token the command gets instead of killing the process (not in process: a test host's signals are its own).
    /// </summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool handleProcessTermination, CancellationToken cancellationToken)
    {
        var root = BuildRoot();
        if (args.Length == 0)
        {
            WriteHelp(root, [], stderr);
            return 2;
        }
        if (args[0] == "help") args = [.. args[1..], "--help"];   // `deberta help [command]`

        // No response files: a value starting with '@' is a path like any other, as it always was.
        var parseResult = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        string prefix = Prefix(parseResult.CommandResult);
        if (parseResult.Action is ParseErrorAction)
        {
            if (parseResult.CommandResult.Command == root && parseResult.UnmatchedTokens.Contains(args[0]))
            {
                stderr.WriteLine($"deberta {args[0]}: unknown command '{args[0]}'");
                stderr.WriteLine();
                WriteHelp(root, [], stderr);
            }
            else
            {
                foreach (var error in parseResult.Errors) stderr.WriteLine($"{prefix}: {error.Message}");
            }
            return 2;
        }

        var configuration = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = handleProcessTermination ? TimeSpan.FromSeconds(120) : null,
        };
        try
        {
            int code = parseResult.InvokeAsync(configuration, cancellationToken).GetAwaiter().GetResult();
            // System.CommandLine itself answers 130 when a command did not stop within the timeout after Ctrl-C.
            if (code == CancelledExitCode) stderr.WriteLine($"{prefix}: cancelled");
            return code;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine($"{prefix}: cancelled");
            return CancelledExitCode;
        }
        catch (CliUsageException e)
        {
            stderr.WriteLine($"{prefix}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"{prefix}: error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Sets <paramref name="command"/>'s action: <paramref name="action"/> runs on a worker thread with the parse result
    /// (its <c>InvocationConfiguration.Output</c>/<c>Error</c> are the tool's stdout/stderr) and a token that Ctrl-C
    /// cancels; it returns the exit code, throws for errors (exit 1) and <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    /// <remarks>
    /// A command that <paramref name="runsModels"/> first lets oneMKL choose its kernels by CPU features on non-Intel
    /// CPUs (<see cref="MklCpuDispatch"/>; fp32 products about 4x faster on an AVX-512 AMD EPYC), which must precede the
    /// process's first matrix product and loads LibTorch; <c>tokenize</c> skips it and starts without LibTorch's load.
    /// <c>DEBERTASHARP_MKL_VENDOR_CHECK=keep</c> turns it off.
    /// </remarks>
    internal static void SetAction(Command command, Func<ParseResult, CancellationToken, int> action, bool runsModels = true) =>
        command.SetAction((parseResult, cancellationToken) => Task.Run(() =>
        {
            if (runsModels) MklCpuDispatch.UseFeatureBasedKernels();
            return action(parseResult, cancellationToken);
        }, cancellationToken));

    /// <summary>
    /// System.CommandLine's generated help, wrapped to the terminal (120 columns when redirected), where a command's row
    /// in its parent's list shows only the first paragraph of its description and its own <c>--help</c> all of it.
    /// </summary>
    private static void UseHelp(RootCommand root)
    {
        int width;
        try
        {
            width = Console.IsOutputRedirected || Console.WindowWidth <= 0 ? 120 : Console.WindowWidth;
        }
        catch (IOException)
        {
            width = 120;
        }
        foreach (var help in root.Options.OfType<HelpOption>()) help.Action = new SummaryHelpAction(new HelpAction { MaxWidth = width });
    }

    /// <summary>Cuts the subcommands' descriptions to their first paragraph, then writes the standard help.</summary>
    /// <remarks>Mutating the tree is safe: <see cref="Run(string[], TextWriter, TextWriter, bool, CancellationToken)"/> builds a fresh one per call.</remarks>
    private sealed class SummaryHelpAction(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            foreach (var sub in parseResult.CommandResult.Command.Subcommands)
                sub.Description = sub.Description?.Split("\n\n", 2)[0];
            return help.Invoke(parseResult);
        }
    }

    /// <summary>Writes the generated help of the command at <paramref name="path"/> (the root when empty).</summary>
    private static void WriteHelp(RootCommand root, string[] path, TextWriter writer) =>
        root.Parse([.. path, "--help"]).Invoke(new InvocationConfiguration { Output = writer, Error = writer });

    /// <summary><c>deberta</c> followed by the names of the commands down to <paramref name="result"/>.</summary>
    private static string Prefix(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c && c.Command is not RootCommand; r = r.Parent) names.Add(c.Command.Name);
        names.Add("deberta");
        names.Reverse();
        return string.Join(' ', names);
    }
}

/// <summary>A usage error a command finds in its action (options that exclude each other, ...): exit 2, message on stderr.</summary>
internal sealed class CliUsageException(string message) : Exception(message);
