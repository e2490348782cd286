using System.CommandLine;
using System.Globalization;
using DebertaSharp.Cli;
using DebertaSharp.Serialization;

namespace DebertaSharp.Tests.Cli;

/// <summary>The <c>deberta</c> tool's command line on System.CommandLine: help, aliases, usage errors, exit codes, completion.</summary>
public sealed class CliAppTests
{
    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => ForwardCommandTests.RunInProcess(args);

    private static IEnumerable<Command> AllCommands()
    {
        var pending = new Stack<Command>(CliApp.BuildRoot().Subcommands);
        while (pending.Count > 0)
        {
            var command = pending.Pop();
            yield return command;
            foreach (var sub in command.Subcommands) pending.Push(sub);
        }
    }

    [Fact]
    public void RootHelp_ListsEveryCommand()
    {
        foreach (string[] args in new[] { new[] { "--help" }, ["-h"], ["help"] })
        {
            var (code, stdout, stderr) = Run(args);
            Assert.Equal(0, code);
            Assert.Equal("", stderr);
            foreach (var command in AllCommands()) Assert.Contains(command.Name, stdout);
        }
        // No command at all: the help on stderr, a usage error.
        var (rc, @out, err) = Run();
        Assert.Equal(2, rc);
        Assert.Equal("", @out);
        Assert.Contains("forward", err);
        Assert.Contains("tokenize", err);
    }

    [Fact]
    public void CommandHelp_ListsEveryOptionAndAliasWithADescription()
    {
        foreach (var command in AllCommands())
        {
            Assert.False(string.IsNullOrWhiteSpace(command.Description), command.Name);
            foreach (string[] args in new[] { new[] { command.Name, "--help" }, ["help", command.Name] })
            {
                var (code, stdout, stderr) = Run(args);
                Assert.True(code == 0, stderr);
                foreach (var option in command.Options)
                {
                    Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{command.Name} {option.Name}");
                    Assert.Contains(option.Name, stdout);
                    foreach (string alias in option.Aliases) Assert.Contains(alias, stdout);
                }
            }
        }
    }

    [Fact]
    public void MultiWordOptions_HaveSnakeAndKebabSpellings()
    {
        foreach (var command in AllCommands())
        {
            foreach (var option in command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal)))
            {
                var names = option.Aliases.Append(option.Name).ToHashSet();
                string body = option.Name[2..];
                Assert.Contains("--" + body.Replace('_', '-'), names);
                Assert.Contains("--" + body.Replace('-', '_'), names);
            }
        }
        Assert.Equal(["--max_length"], Opt.AliasesOf("--max-length"));
        Assert.Equal(["--learning-rate"], Opt.AliasesOf("--learning_rate"));
        Assert.Empty(Opt.AliasesOf("--model"));
        Assert.Empty(Opt.AliasesOf("-h"));
    }

    [Fact]
    public void SnakeCaseAliases_BehaveAsTheKebabCaseFlags()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["in.json"], """[["Hello", "world"], ["a", "b", "c", "d", "e", "f"]]""");
        string tok = TestPaths.Fixture("tokenizer", "prefix1");
        var kebab = Run("tokenize", "--tokenizer", tok, "--input", dir["in.json"], "--split-into-words", "--max-length", "4", "--no-special-tokens");
        var snake = Run("tokenize", "--tokenizer", tok, "--input", dir["in.json"], "--split_into_words", "--max_length=4", "--no_special_tokens");
        Assert.True(kebab.Code == 0, kebab.Stderr);
        Assert.True(snake.Code == 0, snake.Stderr);
        Assert.Contains("word_ids", snake.Stdout);
        Assert.Equal(kebab.Stdout, snake.Stdout);
        var hf = Run("tokenize", "--tokenizer", tok, "--input", dir["in.json"], "--is_split_into_words", "--max_length", "4", "--no_special_tokens");
        Assert.True(hf.Code == 0, hf.Stderr);
        Assert.Equal(kebab.Stdout, hf.Stdout);

        string model = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        var (code, _, err) = Run("forward", "--model", model, "--inputs", Path.Combine(model, "expected_single.safetensors"),
            "--output", dir["o.safetensors"], "--output_hidden_states", "--output_attentions");
        Assert.True(code == 0, err);
        var keys = SafeTensors.Load(dir["o.safetensors"]).Keys.ToList();
        Assert.Contains(keys, k => k.StartsWith("output.hidden_states.", StringComparison.Ordinal));
        Assert.Contains(keys, k => k.StartsWith("output.attentions.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--bogus", "forward", "--bogus")]                                  // unknown option
    [InlineData("", "forward", "--model")]                                          // missing required option
    [InlineData("--head classifier", "forward", "--head must be one of auto|base|")] // bad choice
    [InlineData("--dtype float64", "forward", "--dtype must be one of float32|float16|bfloat16, not 'float64'")]
    [InlineData("--max-length abc", "tokenize", "--max-length must be a positive integer, not 'abc'")]
    [InlineData("--max_length 0", "tokenize", "--max_length must be a positive integer, not '0'")]
    [InlineData("--padding sideways", "tokenize", "--padding must be one of longest|max_length, not 'sideways'")]
    [InlineData("--pairs false", "tokenize", "'false'")]                             // a switch takes no value
    [InlineData("--input again.json", "tokenize", "--input")]                       // given twice
    public void UsageErrors_NameTheFlagAndExit2(string extra, string command, string expected)
    {
        string[] complete = command == "forward"
            ? ["--model", "m", "--inputs", "i.safetensors", "--output", "o.safetensors"]
            : ["--tokenizer", "t", "--input", "i.json"];
        string[] args = [command, .. extra == "" ? complete[2..] : complete, .. extra.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        var (code, stdout, stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(expected, stderr);
        foreach (string line in stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.StartsWith($"deberta {command}: ", line);
    }

    [Fact]
    public void UnknownCommand_IsAUsageError()
    {
        var (code, stdout, stderr) = Run("frobnicate", "--model", "x");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("deberta frobnicate: unknown command 'frobnicate'", stderr);
        Assert.Contains("tokenize", stderr);
    }

    [Fact]
    public void ActionErrors_Exit1WithTypeAndMessage()
    {
        using var dir = TestPaths.TempDir();
        var (code, stdout, stderr) = Run("tokenize", "--tokenizer", dir["missing"], "--input", dir["in.json"]);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("deberta tokenize: error: DirectoryNotFoundException: ", stderr);
        Assert.Contains(dir["missing"], stderr);
    }

    [Fact]
    public void Cancellation_Exits130WithAShortMessageAndNoOutput()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir["in.json"], """["Hello world"]""");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["tokenize", "--tokenizer", TestPaths.Fixture("tokenizer", "prefix0"), "--input", dir["in.json"]],
            stdout, stderr, handleProcessTermination: false, new CancellationToken(canceled: true));
        Assert.Equal(CliApp.CancelledExitCode, code);
        Assert.Equal(130, code);
        Assert.Equal("", stdout.ToString());
        Assert.Equal("deberta tokenize: cancelled", stderr.ToString().Trim());
    }

    [Fact]
    public void SuggestDirective_CompletesCommandsOptionsAndChoices()
    {
        // What dotnet-suggest sends: [suggest:<cursor position>] "<command line>".
        Assert.Equal(["tokenize"], Suggest("tok"));
        Assert.Contains("--dtype", Suggest("forward --d"));
        Assert.Equal(["--max-length", "--max_length"], Suggest("tokenize --max").Order(StringComparer.Ordinal));
        Assert.Equal(["bfloat16", "float16", "float32"], Suggest("forward --dtype ").Order(StringComparer.Ordinal));

        static string[] Suggest(string line)
        {
            var (code, stdout, stderr) = Run($"[suggest:{line.Length}]", line);
            Assert.True(code == 0, stderr);
            return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
    }

    [Fact]
    public void OptHelper_ParsesNumbersInvariantlyAndNamesTheFlagAsTyped()
    {
        var rate = Opt.Create("--learning_rate", "The initial learning rate.", 5e-5f);
        var steps = Opt.Create<int?>("--max_steps", "Total number of training steps.");
        var warmup = Opt.Create<double>("--warmup-ratio", "Linear warmup over this fraction of the steps.");
        var bf16 = Opt.Create<bool>("--bf16", "Mixed precision with bfloat16.");
        var command = new Command("train", "test") { rate, steps, warmup, bf16 };
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");   // decimal comma: must not matter
            var ok = command.Parse(["--learning-rate", "0.001", "--max_steps", "10", "--warmup_ratio", "0.5", "--bf16", "true"]);
            Assert.Empty(ok.Errors);
            Assert.Equal(0.001f, ok.GetValue(rate));
            Assert.Equal(10, ok.GetValue(steps));
            Assert.Equal(0.5, ok.GetValue(warmup));
            Assert.True(ok.GetValue(bf16));

            var defaults = command.Parse([]);
            Assert.Empty(defaults.Errors);
            Assert.Equal(5e-5f, defaults.GetValue(rate));
            Assert.Null(defaults.GetValue(steps));
            Assert.False(defaults.GetValue(bf16));

            var bad = command.Parse(["--learning-rate", "fast", "--max_steps", "1.5"]);
            Assert.Contains(bad.Errors, e => e.Message == "--learning-rate must be a number, not 'fast'");
            Assert.Contains(bad.Errors, e => e.Message == "--max_steps must be an integer, not '1.5'");
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }
}
