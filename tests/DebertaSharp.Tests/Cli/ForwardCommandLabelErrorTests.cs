using DebertaSharp.Serialization;
using TorchSharp;

namespace DebertaSharp.Tests.Cli;

/// <summary><c>deberta forward</c> with labels that do not fit the model: an error naming the file, the input and the value.</summary>
public sealed class ForwardCommandLabelErrorTests
{
    [Fact]
    public void Bad_Labels_Name_The_File_The_Input_And_The_Value_And_Keep_The_Output()
    {
        using var tmp = TestPaths.TempDir();
        string dir = TestPaths.Fixture("models", "rel_c2p_p2c", "sequence_classification");   // 3 labels
        string output = tmp["out.safetensors"];
        File.WriteAllText(output, "precious");
        var ids = torch.tensor(new long[] { 1, 5, 7, 1, 6, 8 }, new long[] { 2, 3 });

        SafeTensors.Save(tmp["bad_labels.safetensors"], [new("input.input_ids", ids), new("input.labels", torch.tensor(new long[] { 0, 9 }))]);
        var (code, _, err) = ForwardCommandTests.RunInProcess(["forward", "--model", dir, "--inputs", tmp["bad_labels.safetensors"], "--output", output]);
        Assert.Equal(1, code);
        Assert.Contains("bad_labels.safetensors", err);
        Assert.Contains("labels contains 9", err);

        SafeTensors.Save(tmp["short_labels.safetensors"], [new("input.input_ids", ids), new("input.labels", torch.tensor(new long[] { 0 }))]);
        (code, _, err) = ForwardCommandTests.RunInProcess(["forward", "--model", dir, "--inputs", tmp["short_labels.safetensors"], "--output", output]);
        Assert.Equal(1, code);
        Assert.Contains("short_labels.safetensors", err);
        Assert.Contains("ArgumentException", err);
        Assert.Contains("labels has shape [1]", err);
        Assert.Equal("precious", File.ReadAllText(output));
    }
}
