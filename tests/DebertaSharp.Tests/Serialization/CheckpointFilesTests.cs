using System.Text.Json;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using static DebertaSharp.Tests.Serialization.SerializationTestUtil;

namespace DebertaSharp.Tests.Serialization;

/// <summary>CheckpointFiles: choosing and loading the weights of a model folder.</summary>
public class CheckpointFilesTests
{
    private static string Formats(params string[] p) => TestPaths.Fixture(["formats", .. p]);

    [Theory]
    [InlineData("safetensors_fp32", "model.safetensors")]
    [InlineData("safetensors_sharded", "model.safetensors.index.json")]
    [InlineData("bin_zip", "pytorch_model.bin")]
    [InlineData("bin_legacy", "pytorch_model.bin")]
    public void EveryFp32FormatFolderLoadsTheSameTensors(string folder, string firstFile)
    {
        using var reference = new Owned(SafeTensors.Load(Formats("safetensors_fp32", "model.safetensors")));
        using var ckpt = CheckpointFiles.Load(Formats(folder));
        Assert.Equal(Path.GetFullPath(Formats(folder, firstFile)), ckpt.Files[0]);
        foreach (var (k, t) in reference.Dict) AssertSameTensor(t, ckpt.StateDict[k], $"{folder}:{k}");
        // Only the tied decoder weights of torch.save'd state dicts come on top.
        Assert.All(ckpt.StateDict.Keys.Except(reference.Dict.Keys), k => Assert.StartsWith("cls.predictions.decoder.", k));
    }

    [Theory]
    [InlineData("safetensors_fp16", ScalarType.Float16)]
    [InlineData("safetensors_bf16", ScalarType.BFloat16)]
    public void HalfFoldersKeepTheirDtype(string folder, ScalarType dtype)
    {
        using var ckpt = CheckpointFiles.Load(Formats(folder));
        Assert.All(ckpt.StateDict.Values, t => Assert.Equal(dtype, t.dtype));
    }

    [Fact]
    public void ShardedCheckpointReadsTheIndexAndEveryListedShard()
    {
        var listing = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Formats("sharded_listing.json")))!;
        using var ckpt = CheckpointFiles.Load(Formats("safetensors_sharded"));
        Assert.Equal(
            listing.Where(f => f.EndsWith(".json", StringComparison.Ordinal) && f != "config.json")
                .Concat(listing.Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal))),
            ckpt.Files.Select(Path.GetFileName));
        var index = CheckpointFiles.ReadIndex(Formats("safetensors_sharded", "model.safetensors.index.json"));
        Assert.Equal(index.Select(kv => kv.Key).Order(StringComparer.Ordinal), ckpt.StateDict.Keys.Order(StringComparer.Ordinal));
    }

    private static void Copy(string from, string toDir, string? name = null) =>
        File.Copy(from, Path.Combine(toDir, name ?? Path.GetFileName(from)));

    [Fact]
    public void PreferenceOrderIsThatOfFromPretrained()
    {
        using var tmp = TestPaths.TempDir();
        Copy(Formats("bin_zip", "pytorch_model.bin"), tmp.Path);
        Assert.EndsWith("pytorch_model.bin", CheckpointFiles.Find(tmp.Path));
        foreach (var f in Directory.GetFiles(Formats("safetensors_sharded"))) Copy(f, tmp.Path);
        Assert.EndsWith("model.safetensors.index.json", CheckpointFiles.Find(tmp.Path));
        Copy(Formats("safetensors_fp16", "model.safetensors"), tmp.Path);
        Assert.EndsWith(Path.DirectorySeparatorChar + "model.safetensors", CheckpointFiles.Find(tmp.Path));
        using var ckpt = CheckpointFiles.Load(tmp.Path);
        Assert.Equal(new[] { Path.Combine(tmp.Path, "model.safetensors") }, ckpt.Files);
        Assert.All(ckpt.StateDict.Values, t => Assert.Equal(ScalarType.Float16, t.dtype));
    }

    [Fact]
    public void ShardedTorchPickleCheckpointLoads()
    {
        using var tmp = TestPaths.TempDir();
        using var whole = new Owned(TorchPickle.Load(Formats("bin_zip", "pytorch_model.bin")));
        Copy(Formats("bin_zip", "pytorch_model.bin"), tmp.Path, "pytorch_model-00001-of-00002.bin");
        Copy(Formats("bin_legacy", "pytorch_model.bin"), tmp.Path, "pytorch_model-00002-of-00002.bin");
        // Both files hold every key, so give the index only the first and let a key appear twice: refused.
        var map = whole.Dict.Keys.ToDictionary(k => k, _ => "pytorch_model-00001-of-00002.bin");
        File.WriteAllText(tmp["pytorch_model.bin.index.json"], JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
        Assert.EndsWith("pytorch_model.bin.index.json", CheckpointFiles.Find(tmp.Path));
        using (var ckpt = CheckpointFiles.Load(tmp.Path))
        {
            Assert.Equal(2, ckpt.Files.Count);
            foreach (var (k, t) in whole.Dict) AssertSameTensor(t, ckpt.StateDict[k], k);
        }
        map[map.Keys.First()] = "pytorch_model-00002-of-00002.bin";
        File.WriteAllText(tmp["pytorch_model.bin.index.json"], JsonSerializer.Serialize(new { weight_map = map }));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.Load(tmp.Path));
        Assert.Contains("pytorch_model-0000", e.Message);
    }

    [Fact]
    public void EmptyFolderErrorNamesTheFolderAndTheFilesLookedFor()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp["config.json"], "{}");
        var e = Assert.Throws<FileNotFoundException>(() => CheckpointFiles.Load(tmp.Path));
        Assert.Contains(tmp.Path, e.Message);
        foreach (var name in new[] { "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json" })
            Assert.Contains(name, e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => CheckpointFiles.Load(tmp["nope"]));
    }

    private static TempDir ShardedCopy()
    {
        var tmp = TestPaths.TempDir();
        foreach (var f in Directory.GetFiles(Formats("safetensors_sharded"))) Copy(f, tmp.Path);
        return tmp;
    }

    [Fact]
    public void MissingShardErrorNamesIt()
    {
        using var tmp = ShardedCopy();
        File.Delete(tmp["model-00004-of-00007.safetensors"]);
        var e = Assert.Throws<FileNotFoundException>(() => CheckpointFiles.Load(tmp.Path));
        Assert.Contains("model-00004-of-00007.safetensors", e.Message);
        Assert.Contains("model.safetensors.index.json", e.Message);
    }

    [Fact]
    public void IndexKeyAbsentFromItsShardIsAnError()
    {
        using var tmp = ShardedCopy();
        string index = tmp["model.safetensors.index.json"];
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"weight_map\": {", "\"weight_map\": {\n    \"ghost.weight\": \"model-00001-of-00007.safetensors\","));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.Load(tmp.Path));
        Assert.Equal("ghost.weight", e.Key);
    }

    [Fact]
    public void ShardNamesOutsideTheFolderAreRefused()
    {
        using var tmp = ShardedCopy();
        string index = tmp["model.safetensors.index.json"];
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model-00001-of-00007.safetensors\"", "\"../model-00001-of-00007.safetensors\""));
        Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.Load(tmp.Path));
        File.WriteAllText(index, "{\"weight_map\": 3}");
        Assert.Throws<CheckpointFormatException>(() => CheckpointFiles.Load(tmp.Path));
    }
}
