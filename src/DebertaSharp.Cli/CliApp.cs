namespace DebertaSharp.Cli;

/// <summary>Entry point of the <c>deberta</c> command-line tool: dispatches to one command per file under Commands/.</summary>
internal static class CliApp
{
    internal const string Usage = """
        usage: deberta <command> [options]

        commands:
          forward    run a model on tensors from a safetensors file and write its outputs
          tokenize   encode a JSON array of texts and print one JSON object per line

        Run `deberta <command> --help` for a command's options.
        """;

    /// <summary>Runs the tool. Returns the process exit code; errors go to <paramref name="stderr"/>.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "forward" => ForwardCommand.Run(args[1..], stdout, stderr),
                "tokenize" => TokenizeCommand.Run(args[1..], stdout, stderr),
                _ => throw new CliUsageException($"unknown command '{args[0]}'\n\n{Usage}"),
            };
        }
        catch (CliUsageException e)
        {
            stderr.WriteLine($"deberta {(args.Length > 0 ? args[0] : "")}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"deberta {args[0]}: error: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }
}

/// <summary>A command line that does not follow a command's contract (unknown flag, missing value).</summary>
internal sealed class CliUsageException(string message) : Exception(message);

/// <summary>Minimal, strict parser for <c>--flag value</c> and <c>--switch</c> arguments.</summary>
internal sealed class CliArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    /// <summary>True when <c>--help</c> or <c>-h</c> was given.</summary>
    public bool Help { get; }

    /// <summary>Parses <paramref name="args"/>; <paramref name="valued"/> take a value, <paramref name="switches"/> do not.</summary>
    public CliArgs(string[] args, IReadOnlyCollection<string> valued, IReadOnlyCollection<string> switches)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") { Help = true; continue; }
            string name = a, inline = null!;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0) { name = a[..eq]; inline = a[(eq + 1)..]; }
            if (valued.Contains(name))
            {
                string value = inline ?? (i + 1 < args.Length ? args[++i] : throw new CliUsageException($"{name} needs a value"));
                if (!_values.TryAdd(name, value)) throw new CliUsageException($"{name} given twice");
            }
            else if (switches.Contains(name) && inline is null)
            {
                _values[name] = null;
            }
            else
            {
                throw new CliUsageException($"unknown argument '{a}'");
            }
        }
    }

    /// <summary>Whether the flag or switch was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>The value of an optional flag.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;

    /// <summary>The value of a required flag.</summary>
    public string Require(string name) => Get(name) ?? throw new CliUsageException($"missing required option {name}");

    /// <summary>The value of an optional flag restricted to <paramref name="allowed"/>.</summary>
    public string? Choice(string name, params string[] allowed)
    {
        string? v = Get(name);
        if (v is not null && Array.IndexOf(allowed, v) < 0)
            throw new CliUsageException($"{name} must be one of {string.Join("|", allowed)}, not '{v}'");
        return v;
    }

    /// <summary>The value of an optional positive integer flag.</summary>
    public int? PositiveInt(string name)
    {
        string? v = Get(name);
        if (v is null) return null;
        if (!int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n <= 0)
            throw new CliUsageException($"{name} must be a positive integer, not '{v}'");
        return n;
    }
}
