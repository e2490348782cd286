using System.Buffers;
using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using DebertaSharp.Serialization;
using DebertaSharp.Tokenization;
using TorchSharp;

namespace DebertaSharp.Cli;

/// <summary>
/// <c>deberta tokenize</c>: encodes a JSON array of texts (or pairs, or word lists) as one batch and prints one JSON
/// object per element, with the fields Hugging Face's tokenizer returns; with <c>--output FILE.safetensors</c> it writes
/// the batch as <c>deberta forward</c>'s input file instead.
/// </summary>
internal static class TokenizeCommand
{
    /// <summary>The <c>tokenize</c> command: its options and its action.</summary>
    internal static Command Build()
    {
        var tokenizer = Opt.Required<string>("--tokenizer",
            "Tokenizer folder: with a tokenizer.json uses DebertaTokenizerFast, otherwise DebertaTokenizer on its vocab.json and merges.txt.")
            .WithHelpName("DIR");
        var input = Opt.Required<string>("--input",
            "JSON array of strings, of [text, text_pair] with --pairs, of word arrays with --split-into-words (of " +
            "[words, pair_words] with both). The whole array is one batch.").WithHelpName("FILE.json");
        var pairs = Opt.Flag("--pairs",
            "Each element is a [text, text_pair] pair; an empty text_pair is no pair, as in tokenizer(text, \"\").");
        var splitIntoWords = Opt.Flag("--split-into-words", "Each text is an array of words (is_split_into_words); adds word_ids to the output.");
        var noSpecialTokens = Opt.Flag("--no-special-tokens", "Do not add [CLS]/[SEP] (add_special_tokens=False).");
        splitIntoWords.Aliases.Add("--is_split_into_words");   // transformers' argument name
        var maxLength = Opt.PositiveInt("--max-length", "Maximum length; alone it truncates with longest_first.");
        var truncation = Opt.Choice("--truncation",
            "Truncation strategy; without --max-length it truncates to model_max_length.", ["longest_first", "only_first", "only_second"]);
        var padding = Opt.Choice("--padding",
            "Pad to the batch's longest, or to --max-length (model_max_length without it); no padding when absent " +
            "(with --output: the batch's longest).", ["longest", "max_length"]);
        var output = Opt.Create<string>("--output",
            "Write the batch to this safetensors file instead of printing it: input.input_ids, input.attention_mask and " +
            "input.token_type_ids, int64 [batch, length], padded (to the longest unless --padding max_length): the " +
            "--inputs file of deberta forward. Replaced only when the whole file has been written.").WithHelpName("FILE.safetensors");

        var command = new Command("tokenize",
            "Encodes a JSON array of texts and prints one JSON object per line and element.\n\n" +
            "The texts (or pairs, or word lists) of FILE.json are one batch. Output, in input order: input_ids, " +
            "token_type_ids, attention_mask, special_tokens_mask, offset_mapping (code points; [0, 0] for special and " +
            "padding tokens), tokens, and word_ids with --split-into-words. Flags follow transformers' tokenizer(...).\n\n" +
            "With --output FILE.safetensors the batch is written as the input.* tensors of deberta forward instead " +
            "(tokenize --output in.safetensors, then forward --inputs in.safetensors).")
        {
            tokenizer, input, pairs, splitIntoWords, noSpecialTokens, maxLength, truncation, padding, output,
        };
        CliApp.SetAction(command, (parseResult, cancellationToken) =>
        {
            var options = new EncodeOptions
            {
                AddSpecialTokens = !parseResult.GetValue(noSpecialTokens),
                MaxLength = parseResult.GetValue(maxLength),
                Truncation = parseResult.GetValue(truncation) switch
                {
                    "longest_first" => TruncationStrategy.LongestFirst,
                    "only_first" => TruncationStrategy.OnlyFirst,
                    "only_second" => TruncationStrategy.OnlySecond,
                    _ => null,
                },
                Padding = parseResult.GetValue(padding) switch
                {
                    "longest" => PaddingStrategy.Longest,
                    "max_length" => PaddingStrategy.MaxLength,
                    _ => PaddingStrategy.None,
                },
            };
            return Run(parseResult.GetRequiredValue(tokenizer), parseResult.GetRequiredValue(input), parseResult.GetValue(pairs),
                parseResult.GetValue(splitIntoWords), options, parseResult.GetValue(output), parseResult.InvocationConfiguration.Output, cancellationToken);
        }, runsModels: false);
        return command;
    }

    private static int Run(string dir, string input, bool pairs, bool words, EncodeOptions options, string? output, TextWriter stdout,
        CancellationToken cancellationToken)
    {
        if (File.Exists(dir)) throw new IOException($"--tokenizer: '{dir}' is a file, not a tokenizer folder");
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"tokenizer directory not found: {dir}");
        if (Directory.Exists(input)) throw new IOException($"--input: '{input}' is a folder, not a file");
        if (!File.Exists(input)) throw new FileNotFoundException($"input file not found: {input}", input);
        if (output is not null)
        {
            CliFiles.CheckOutputFile("--output", output);
            // One tensor per field needs rows of one length.
            if (options.Padding == PaddingStrategy.None) options = options with { Padding = PaddingStrategy.Longest };
        }
        var tokenizer = DebertaTokenizerBase.FromPretrained(dir);
        var batch = Encode(tokenizer, ReadInput(input, pairs, words), pairs, words, options);
        cancellationToken.ThrowIfCancellationRequested();
        if (output is not null) return WriteSafetensors(batch, input, output, stdout);

        // Build everything first so that an error never leaves partial output.
        var lines = new List<string>(batch.Count);
        for (int i = 0; i < batch.Count; i++) lines.Add(ToJsonLine(tokenizer, batch[i], words));
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var line in lines) stdout.WriteLine(line);
        stdout.Flush();
        return 0;
    }

    /// <summary>The batch as forward's input file: input.input_ids, input.attention_mask, input.token_type_ids, int64 [batch, length].</summary>
    private static int WriteSafetensors(BatchEncoding batch, string input, string output, TextWriter stdout)
    {
        if (batch.Count == 0) throw new InvalidDataException($"{input}: the array is empty; --output needs at least one element");
        int length = batch[0].Length;
        if (batch.Encodings.Any(e => e.Length != length))
            throw new InvalidOperationException("the encodings of the batch have different lengths after padding");
        using var scope = torch.NewDisposeScope();
        long[] shape = [batch.Count, length];
        torch.Tensor Field(Func<Encoding, int[]> field) =>
            torch.tensor(batch.Encodings.SelectMany(e => field(e)).Select(v => (long)v).ToArray(), shape, torch.int64);
        var tensors = new List<KeyValuePair<string, torch.Tensor>>
        {
            new("input.input_ids", Field(e => e.Ids)),
            new("input.attention_mask", Field(e => e.AttentionMask)),
            new("input.token_type_ids", Field(e => e.TypeIds)),
        };
        SafeTensors.Save(output, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        stdout.WriteLine($"wrote {tensors.Count} tensors [{batch.Count}, {length}] to {output}");
        stdout.Flush();
        return 0;
    }

    private static BatchEncoding Encode(DebertaTokenizerBase tok, List<object> items, bool pairs, bool words, EncodeOptions options)
    {
        // Pairs as tokenizer(text, text_pair) encodes each (an empty text_pair is no pair), padded as one batch.
        if (pairs && words)
            return tok.EncodeBatchAsSingleCalls(items.Select(x => { var p = (string[][])x; return ((IReadOnlyList<string>)p[0], (IReadOnlyList<string>)p[1]); }).ToList(), options);
        if (pairs)
            return tok.EncodeBatchAsSingleCalls(items.Select(x => { var p = (string[])x; return (p[0], p[1]); }).ToList(), options);
        if (words)
            return tok.EncodeBatch(items.Select(x => (IReadOnlyList<string>)(string[])x).ToList(), options);
        return tok.EncodeBatch(items.Select(x => (string)x).ToList(), options);
    }

    private static List<object> ReadInput(string path, bool pairs, bool words)
    {
        ReadOnlyMemory<byte> bytes = File.ReadAllBytes(path);
        // A UTF-8 byte-order mark is valid UTF-8 (editors on Windows write one); the JSON reader refuses it.
        if (bytes.Span.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON (or not valid UTF-8): {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: expected a JSON array, found {root.ValueKind}");
            string shape = (pairs, words) switch
            {
                (true, true) => "[words, pair_words]",
                (true, false) => "[text, text_pair]",
                (false, true) => "an array of words",
                _ => "a string",
            };
            var items = new List<object>();
            int i = 0;
            foreach (var el in root.EnumerateArray())
            {
                string where = $"{path}: element {i}";
                object item;
                if (pairs)
                {
                    if (el.ValueKind != JsonValueKind.Array || el.GetArrayLength() != 2) throw new InvalidDataException($"{where} must be {shape}");
                    item = words
                        ? new[] { Words(el[0], where), Words(el[1], where) }
                        : new[] { Str(el[0], where, shape), Str(el[1], where, shape) };
                }
                else item = words ? Words(el, where) : Str(el, where, shape);
                items.Add(item);
                i++;
            }
            return items;
        }
    }

    private static string Str(JsonElement el, string where, string shape)
    {
        if (el.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{where} must be {shape}, found {el.ValueKind}");
        try
        {
            return el.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"{where}: the string is not valid Unicode ({e.Message})", e);
        }
    }

    private static string[] Words(JsonElement el, string where)
    {
        if (el.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{where} must be an array of words, found {el.ValueKind}");
        return [.. el.EnumerateArray().Select(w => Str(w, where, "an array of words"))];
    }

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string ToJsonLine(DebertaTokenizerBase tok, Encoding e, bool words)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + e.Length * 32);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            Ints(w, "input_ids", e.Ids);
            Ints(w, "token_type_ids", e.TypeIds);
            Ints(w, "attention_mask", e.AttentionMask);
            Ints(w, "special_tokens_mask", e.SpecialTokensMask);
            w.WriteStartArray("offset_mapping");
            foreach (var (s, t) in e.Offsets)
            {
                w.WriteStartArray();
                w.WriteNumberValue(s);
                w.WriteNumberValue(t);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            foreach (var t in tok.ConvertIdsToTokens(e.Ids))
            {
                if (t is null) w.WriteNullValue();
                else w.WriteStringValue(t);
            }
            w.WriteEndArray();
            if (words)
            {
                w.WriteStartArray("word_ids");
                foreach (var id in e.WordIds)
                {
                    if (id is int v) w.WriteNumberValue(v);
                    else w.WriteNullValue();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Ints(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
