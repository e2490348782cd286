using DebertaSharp.Modeling;
using DebertaSharp.Tests.Cli;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>
/// bf16 on a CPU without bf16 instructions (issue 9: "say so once and run anyway"): the flag test, the loader's warning
/// and <c>deberta pipeline --dtype bfloat16</c>'s notice, each present exactly when this machine lacks avx512_bf16 and
/// amx_bf16 (the machines of this project have both kinds).
/// </summary>
public sealed class CpuFeaturesTests
{
    [Theory]
    [InlineData("flags\t\t: fpu vme avx2 avx512f avx512_bf16 avx512_vnni", true)]
    [InlineData("flags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8", true)]
    [InlineData("flags\t\t: fpu avx avx2 sha_ni vaes", false)]
    [InlineData("flags\t\t: avx512_bf16x xavx512_bf16", false)]   // whole words only
    [InlineData("flags\t\t:", false)]
    [InlineData(null, false)]
    public void Bf16Flags_AreWholeWordsOfTheFlagsLine(string? line, bool expected) =>
        Assert.Equal(expected, CpuFeatures.HasBf16Flags(line));

    [Fact]
    public void HasBf16_IsWhatProcCpuinfoLists()
    {
        // Read independently of the class: any line naming either flag as a word.
        bool listed = File.Exists("/proc/cpuinfo") && File.ReadLines("/proc/cpuinfo")
            .Where(l => l.StartsWith("flags", StringComparison.Ordinal))
            .Any(l => l.Split([' ', '\t']).Any(f => f is "avx512_bf16" or "amx_bf16"));
        Assert.Equal(listed, CpuFeatures.HasBf16);
    }

    [Fact]
    public void Loader_WarnsOnceAboutBf16WithoutBf16Instructions()
    {
        string dir = TestPaths.Fixture("pipeline_models", "sequence_classification");
        var lines = new List<string>();
        using (var bf16 = DebertaPreTrainedModel.FromPretrained(dir, ScalarType.BFloat16, options: new PretrainedLoadOptions { Log = lines.Add }))
        {
            Assert.Equal(ScalarType.BFloat16, bf16.LoadReport!.ModelDtype);
            Assert.Equal(CpuFeatures.HasBf16 ? 0 : 1, lines.Count(l => l.Contains(CpuFeatures.Bf16EmulatedNotice, StringComparison.Ordinal)));
            Assert.Equal(lines, bf16.LoadReport.Messages);
        }
        using var fp32 = DebertaPreTrainedModel.FromPretrained(dir, ScalarType.Float32);
        Assert.DoesNotContain(fp32.LoadReport!.Messages, l => l.Contains(CpuFeatures.Bf16EmulatedNotice, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bfloat16")]
    [InlineData("float32")]
    public void PipelineCommand_SaysSoOnStderr_AndAnswersAnyway(string dtype)
    {
        var (code, stdout, stderr) = ForwardCommandTests.RunInProcess(["pipeline", "text-classification",
            "--model", TestPaths.Fixture("pipeline_models", "sequence_classification"), "--tokenizer", TestPaths.Fixture("tokenizer", "v4_template"),
            "--dtype", dtype, "A fine day."]);
        Assert.True(code == 0, stderr);
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(stdout)![0]!["label"]);
        int notices = stderr.Split('\n').Count(l => l.Contains(CpuFeatures.Bf16EmulatedNotice, StringComparison.Ordinal));
        Assert.Equal(dtype == "bfloat16" && !CpuFeatures.HasBf16 ? 1 : 0, notices);
    }
}
