using System.Buffers.Binary;
using DebertaSharp.Fuzz;
using DebertaSharp.Modeling;
using DebertaSharp.Serialization;
using DebertaSharp.Tokenization;

namespace DebertaSharp.Tests.Fuzz;

/// <summary>
/// config.json's limits (issue 10, item 3), and every reader's limits judged by the fuzz policy
/// (tools/fuzz/DebertaSharp.Fuzz/Harnesses.cs): a hostile input that hits a limit is a documented refusal naming
/// the limit, not a finding, and it is refused fast.
/// </summary>
public class ReaderLimitsPolicyTests
{
    private static DebertaConfigException ConfigRefused(string json)
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["config.json"], json);
        var e = Assert.Throws<DebertaConfigException>(() => DebertaPreTrainedModel.ReadCheckpointConfig(tmp.Path));
        Assert.Equal(tmp["config.json"], e.FilePath);
        Assert.Contains(tmp["config.json"], e.Message);
        return e;
    }

    [Fact]
    public void ConfigNumberPastInt32IsRefusedNamingTheKey()
    {
        var e = ConfigRefused("{\"vocab_size\": 1000000000000}");
        Assert.Equal("vocab_size", e.Key);
    }

    [Theory]
    [InlineData("vocab_size", 5_000_001, "MaxVocabSize")]
    [InlineData("type_vocab_size", 2_000_000_000, "MaxVocabSize")]
    [InlineData("hidden_size", 2_000_000_000, "MaxHiddenSize")]
    [InlineData("embedding_size", 1_000_000, "MaxHiddenSize")]
    [InlineData("pooler_hidden_size", 1_000_000, "MaxHiddenSize")]
    [InlineData("intermediate_size", 2_000_000_000, "MaxIntermediateSize")]
    [InlineData("num_hidden_layers", 100_000, "MaxLayers")]
    [InlineData("max_position_embeddings", 2_000_000_000, "MaxPositions")]
    [InlineData("max_relative_positions", 2_000_000_000, "MaxPositions")]
    [InlineData("num_labels", 2_000_000_000, "MaxLabels")]
    public void ConfigSizePastItsLimitIsRefusedNamingKeyAndLimit(string key, int value, string limit)
    {
        // hidden_size 2e9 is divisible by 12 heads... not needed: the limit is checked first for every key.
        var e = ConfigRefused($"{{\"{key}\": {value}, \"num_attention_heads\": 1}}");
        Assert.Equal(key, e.Key);
        Assert.Contains("DebertaConfig." + limit, e.Message);
        Assert.Contains(value.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Theory]
    // Each size within its own limit, their product past ten billion parameters: named by the largest part.
    [InlineData("{\"vocab_size\": 5000000, \"hidden_size\": 65536, \"num_attention_heads\": 1}", "vocab_size")]
    [InlineData("{\"num_hidden_layers\": 1024, \"hidden_size\": 16384, \"intermediate_size\": 65536, \"num_attention_heads\": 16}", "num_hidden_layers")]
    [InlineData("{\"relative_attention\": true, \"max_relative_positions\": 1048576, \"hidden_size\": 65536, \"num_hidden_layers\": 1, \"intermediate_size\": 1, \"vocab_size\": 1, \"max_position_embeddings\": 1, \"num_attention_heads\": 1}", "max_relative_positions")]
    public void ConfigDescribingTooManyParametersIsRefusedBeforeAnyAllocation(string json, string key)
    {
        var e = ConfigRefused(json);
        Assert.Equal(key, e.Key);
        Assert.Contains("DebertaConfig.MaxParameters", e.Message);
        // The model constructors validate first: nothing is allocated (a 1.3 TB embedding would crash or hang).
        var config = DebertaConfig.FromJson(json);
        var direct = Assert.Throws<DebertaConfigException>(() => new DebertaModel(config));
        Assert.Equal(key, direct.Key);
    }

    [Fact]
    public void ConfigFileLargerThanTheLimitIsRefusedBeforeReading()
    {
        using var tmp = TestPaths.TempDir();
        using (var f = new FileStream(tmp["config.json"], FileMode.Create)) f.SetLength(DebertaConfig.MaxFileBytes + 1);
        var e = Assert.Throws<DebertaConfigException>(() => DebertaConfig.FromFile(tmp["config.json"]));
        Assert.Equal(tmp["config.json"], e.FilePath);
        Assert.Contains("DebertaConfig.MaxFileBytes", e.Message);
    }

    [Fact]
    public void HubSizedConfigsPassTheLimits()
    {
        DebertaConfig.XLarge.Validate();
        (DebertaConfig.XLarge with { VocabSize = 128_100, HiddenSize = 1536, IntermediateSize = 6144, NumAttentionHeads = 24 }).Validate();
    }

    [Fact]
    public void ConfigNestedPastTheDepthLimitIsRefused()
    {
        int depth = DebertaConfig.MaxJsonDepth + 6;
        var e = ConfigRefused($"{{\"task_specific_params\": {new string('[', depth)}{new string(']', depth)}}}");
        Assert.Contains("depth", e.Message);
        Assert.Contains(DebertaConfig.MaxJsonDepth.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    private static byte[] SafeTensorsFile(string header)
    {
        byte[] h = System.Text.Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)h.Length);
        h.CopyTo(result, 8);
        return result;
    }

    private static byte[] ChainOfSharedTuples()
    {
        // Legacy pickle layout starts with the magic number pickle: the chain goes into that first pickle.
        var b = new List<byte> { 0x80, 2, (byte)'}' };
        for (int chain = 0; chain < 2; chain++)
        {
            b.Add((byte)'N');
            for (int i = 0; i < 60; i++) b.AddRange([(byte)'2', 0x86]);
            b.AddRange("Ns"u8.ToArray());
        }
        b.Add((byte)'.');
        return [.. b];
    }

    /// <summary>Reader, hostile input, the exception type and a text the refusal must contain.</summary>
    public static TheoryData<string, byte[], string, string> HostileInputs() => new()
    {
        { "config_json", "{\"hidden_size\": 2000000000, \"num_attention_heads\": 1}"u8.ToArray(), nameof(DebertaConfigException), "MaxHiddenSize" },
        { "config_json", "{\"vocab_size\": 5000000, \"hidden_size\": 65536, \"num_attention_heads\": 1}"u8.ToArray(), nameof(DebertaConfigException), "MaxParameters" },
        { "safetensors", SafeTensorsFile("{\"w\":{\"dtype\":\"F32\",\"shape\":[" + string.Join(",", Enumerable.Repeat("1", 65)) + "],\"data_offsets\":[0,4]}}"),
            nameof(CheckpointFormatException), "MaxTensorRank" },
        { "torch_pickle", ChainOfSharedTuples(), nameof(CheckpointFormatException), "torch's magic number" },
        { "vocab_merges", "{\"a\": 0, \"b\": 2000000000}\0"u8.ToArray(), nameof(TokenizerFormatException), "MaxVocabSize" },
        { "tokenizer_json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 2000000000}, \"merges\": []}}"u8.ToArray(), nameof(TokenizerFormatException), "model.vocab" },
    };

    [Theory]
    [MemberData(nameof(HostileInputs))]
    public void LimitRefusalsAreDocumentedExceptionsNotFindings(string reader, byte[] input, string exceptionType, string mustContain)
    {
        using var tmp = TestPaths.TempDir();
        FuzzOutcome o = FuzzHarnesses.Execute(FuzzHarnesses.Get(reader), input, tmp.Path, FuzzHarnesses.TimeLimit * 5);
        Assert.Null(o.Finding);
        Assert.NotNull(o.Refusal);
        Assert.Equal(exceptionType, o.Refusal.GetType().Name);
        Assert.Contains(mustContain, o.Refusal.Message);
    }
}
