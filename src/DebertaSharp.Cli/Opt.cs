using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace DebertaSharp.Cli;

/// <summary>
/// Defines command-line options once, with both spellings: an option named in Hugging Face's snake_case
/// (<c>--learning_rate</c>) also answers to its kebab-case alias (<c>--learning-rate</c>), and the other way round
/// (<c>--max-length</c> also answers to <c>--max_length</c>). Numbers parse with the invariant culture; choices and
/// number errors name the flag as typed (<c>--max_length must be a positive integer, not 'x'</c>).
/// </summary>
internal static class Opt
{
    /// <summary>The dtype a <c>--dtype</c> value names (<c>float32</c>, <c>float16</c>, <c>bfloat16</c>); null for any
    /// other value (<c>auto</c>, or the option absent).</summary>
    public static TorchSharp.torch.ScalarType? Dtype(string? name) => name switch
    {
        "float32" => TorchSharp.torch.ScalarType.Float32,
        "float16" => TorchSharp.torch.ScalarType.Float16,
        "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
        _ => null,
    };

    /// <summary>An optional option; absent, its value is <c>default(T)</c>.</summary>
    public static Option<T> Create<T>(string name, string description) => Build<T>(name, description);

    /// <summary>An optional option with a default value, shown in <c>--help</c> (a null default is no default).</summary>
    public static Option<T> Create<T>(string name, string description, T defaultValue)
    {
        var option = Build<T>(name, description);
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        return option;
    }

    /// <summary>An option that must be given (a usage error otherwise, and <c>(REQUIRED)</c> in <c>--help</c>).</summary>
    public static Option<T> Required<T>(string name, string description)
    {
        var option = Build<T>(name, description);
        option.Required = true;
        return option;
    }

    /// <summary>A switch that takes no value: true when given, false otherwise (<c>--flag false</c> is a usage error).</summary>
    public static Option<bool> Flag(string name, string description)
    {
        var option = Build<bool>(name, description);
        option.Arity = ArgumentArity.Zero;
        return option;
    }

    /// <summary>A string restricted to <paramref name="choices"/> (completed by the shell, listed in <c>--help</c>).</summary>
    public static Option<string> Choice(string name, string description, string[] choices, string? defaultValue = null)
    {
        if (defaultValue is not null && Array.IndexOf(choices, defaultValue) < 0)
            throw new ArgumentException($"default '{defaultValue}' is not one of the choices of {name}", nameof(defaultValue));
        var option = Create<string>(name, description, defaultValue!);
        option.CompletionSources.Add(choices);
        // The choices in the given order (completions are listed sorted); a long list goes into the description.
        string joined = string.Join("|", choices);
        if (joined.Length <= 40) option.HelpName = joined;
        else
        {
            option.HelpName = name.TrimStart('-').Replace('-', '_').ToUpperInvariant();
            option.Description = $"{description} One of: {string.Join(", ", choices)}.";
        }
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (Array.IndexOf(choices, token.Value) < 0)
                    result.AddError($"{FlagAsTyped(result)} must be one of {string.Join("|", choices)}, not '{token.Value}'");
            }
        });
        return option;
    }

    /// <summary>A positional argument restricted to <paramref name="choices"/> (completed by the shell; the error lists them).</summary>
    public static Argument<string> ChoiceArgument(string name, string description, IReadOnlyList<string> choices)
    {
        var argument = new Argument<string>(name) { Description = $"{description}: {string.Join(", ", choices)}.", HelpName = name };
        argument.CompletionSources.Add([.. choices]);
        argument.Validators.Add(r =>
        {
            string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (!choices.Contains(v)) r.AddError($"{name} must be one of {string.Join("|", choices)}, not '{v}'");
        });
        return argument;
    }

    /// <summary>An optional integer that must be positive (null when absent).</summary>
    public static Option<int?> PositiveInt(string name, string description)
    {
        var option = Build<int?>(name, description, parse: false);
        option.HelpName = "N";
        option.CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0) return n;
            result.AddError($"{FlagAsTyped(result)} must be a positive integer, not '{text}'");
            return null;
        };
        return option;
    }

    /// <summary>Sets the value placeholder shown in <c>--help</c> (<c>--model &lt;DIR&gt;</c>) and returns the option.</summary>
    public static TOption WithHelpName<TOption>(this TOption option, string helpName) where TOption : Option
    {
        option.HelpName = helpName;
        return option;
    }

    /// <summary>The other spellings of a <c>--long</c> name: its snake_case and kebab-case forms, less the name itself.</summary>
    internal static string[] AliasesOf(string name)
    {
        if (!name.StartsWith("--", StringComparison.Ordinal)) return [];
        string body = name[2..];
        return new[] { body.Replace('_', '-'), body.Replace('-', '_') }
            .Where(s => s != body)
            .Distinct(StringComparer.Ordinal)
            .Select(s => "--" + s)
            .ToArray();
    }

    private static Option<T> Build<T>(string name, string description, bool parse = true)
    {
        if (string.IsNullOrWhiteSpace(description)) throw new ArgumentException($"{name} needs a description for --help", nameof(description));
        var option = new Option<T>(name, AliasesOf(name)) { Description = description };
        if (parse) option.CustomParser = InvariantNumberParser<T>();
        return option;
    }

    /// <summary>The flag as the user typed it (an alias or the name), for error messages.</summary>
    private static string FlagAsTyped(SymbolResult result) => result switch
    {
        OptionResult o => o.IdentifierToken?.Value ?? o.Option.Name,
        ArgumentResult { Parent: OptionResult o } => o.IdentifierToken?.Value ?? o.Option.Name,
        _ => "option",
    };

    /// <summary>For int, long, float, double (and their nullable forms): a culture-independent parser; otherwise null (System.CommandLine's own).</summary>
    private static Func<ArgumentResult, T?>? InvariantNumberParser<T>()
    {
        Type type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        Func<string, object?>? parse =
            type == typeof(int) ? s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null
            : type == typeof(long) ? s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null
            : type == typeof(float) ? s => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v : null
            : type == typeof(double) ? s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null
            : null;
        if (parse is null) return null;
        string kind = type == typeof(int) || type == typeof(long) ? "an integer" : "a number";
        return result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (parse(text) is object value) return (T)value;
            result.AddError($"{FlagAsTyped(result)} must be {kind}, not '{text}'");
            return default;
        };
    }
}
