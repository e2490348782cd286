using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.Modeling;

/// <summary>FromPretrained / SavePretrained: round trips, cross-head loading, MLM head detection, missing weights.</summary>
public sealed class PretrainedTests
{
    public static TheoryData<string, string> ModelDirs()
    {
        var data = new TheoryData<string, string>();
        foreach (string v in Directory.GetDirectories(TestPaths.Fixture("models")).Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(v) == "problem_types") continue;
            foreach (string h in Directory.GetDirectories(v).Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(v), Path.GetFileName(h));
        }
        return data;
    }

    private static Dictionary<string, (string Dtype, long[] Shape)> Header(string file) =>
        SafeTensors.ReadHeader(file).Tensors.ToDictionary(t => t.Name, t => (t.Dtype, t.Shape));

    [Theory]
    [MemberData(nameof(ModelDirs))]
    public void SavePretrained_Writes_What_HuggingFace_Writes_And_Reloads_Identically(string variant, string head)
    {
        string dir = TestPaths.Fixture("models", variant, head);
        using var tmp = TestPaths.TempDir();
        using var model = DebertaPreTrainedModel.FromPretrained(dir);
        model.SavePretrained(tmp.Path);

        // Same names, shapes and dtypes as Hugging Face's save_pretrained (the fixture's model.safetensors).
        var ours = Header(tmp["model.safetensors"]);
        var theirs = Header(Path.Combine(dir, "model.safetensors"));
        Assert.Equal(theirs.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, v) in theirs)
        {
            Assert.Equal(v.Dtype, ours[k].Dtype);
            Assert.Equal(v.Shape, ours[k].Shape);
        }
        // ... which is state_dict_keys.json without the tied copies of the word embeddings (and of the legacy bias).
        var keys = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "state_dict_keys.json")))!.AsObject();
        var stateKeys = keys.Select(kv => kv.Key).Where(k => !k.StartsWith("cls.predictions.decoder.", StringComparison.Ordinal) && k != "lm_predictions.lm_head.weight");
        Assert.Equal(stateKeys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, shape) in keys)
            if (ours.TryGetValue(k, out var o)) Assert.Equal(shape!.AsArray().Select(x => (long)x!).ToArray(), o.Shape);

        // config.json: architectures and every original key kept.
        var savedConfig = JsonNode.Parse(File.ReadAllText(tmp["config.json"]))!.AsObject();
        var originalConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        Assert.Equal(DebertaPreTrainedModel.ArchitectureName(model.Head), (string)savedConfig["architectures"]![0]!);
        foreach (var (k, v) in originalConfig)
        {
            Assert.True(savedConfig.ContainsKey(k), $"config key '{k}' was lost");
            if (k is not "transformers_version")
                Assert.True(JsonNode.DeepEquals(v, savedConfig[k]), $"config key '{k}': {v?.ToJsonString()} became {savedConfig[k]?.ToJsonString()}");
        }

        // Reload: identical outputs.
        using var reloaded = DebertaPreTrainedModel.FromPretrained(tmp.Path);
        Assert.Equal(model.Head, reloaded.Head);
        var expected = ParityAssert.Load(Path.Combine(dir, "expected_padded.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var a = model.Forward(ParityAssert.Inputs(expected)).NamedTensors().ToList();
            var b = reloaded.Forward(ParityAssert.Inputs(expected)).NamedTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(a.Count, b.Count);
            foreach (var (k, t) in a)
                Assert.True(t.isnan().any().item<bool>() ? b[k].isnan().any().item<bool>() : t.allclose(b[k], 0, 0), $"{k} differs after the round trip");
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Theory]
    [InlineData(DebertaHead.SequenceClassification)]
    [InlineData(DebertaHead.TokenClassification)]
    [InlineData(DebertaHead.QuestionAnswering)]
    [InlineData(DebertaHead.MaskedLM)]
    public void Base_Checkpoint_Into_A_Head_Initialises_And_Reports_The_Head(DebertaHead head)
    {
        string dir = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        var lines = new List<string>();
        using var model = DebertaPreTrainedModel.FromPretrained(dir, head: head, options: new PretrainedLoadOptions { Log = lines.Add });
        Assert.Equal(head, model.Head);
        var report = model.LoadReport!;
        Assert.NotEmpty(report.NewlyInitializedHeadKeys);
        Assert.All(report.NewlyInitializedHeadKeys, k => Assert.False(k.StartsWith("deberta.", StringComparison.Ordinal)));
        Assert.Equal(report.MissingKeys, report.NewlyInitializedHeadKeys);
        Assert.Empty(report.UnexpectedKeys);
        Assert.Contains(lines, l => l.Contains("newly initialised head weights", StringComparison.Ordinal));
        if (head == DebertaHead.MaskedLM) Assert.Contains("no MLM head weights", report.MaskedLMHeadReason);

        // The encoder is the base checkpoint's: same last hidden state as the base model.
        using var baseModel = DebertaModel.FromPretrained(dir);
        var expected = ParityAssert.Load(Path.Combine(dir, "expected_padded.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = model.Forward(ParityAssert.Inputs(expected));
            ParityAssert.Close("hidden_states.last", expected["output.last_hidden_state"], output.HiddenStates![^1]);
            // Newly initialised head weights follow _init_weights: biases zero, weights small.
            foreach (var (name, p) in model.named_parameters())
                if (report.NewlyInitializedHeadKeys.Contains(name))
                {
                    if (name.EndsWith("bias", StringComparison.Ordinal)) Assert.Equal(0.0, p.abs().max().item<float>());
                    else if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) Assert.Equal(1.0, p.min().item<float>());
                    else Assert.InRange(p.std().item<float>(), 0.01, 0.03);
                }
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Theory]
    [InlineData("masked_lm")]
    [InlineData("sequence_classification")]
    [InlineData("question_answering")]
    public void Head_Checkpoint_Into_Base_Strips_The_Prefix_And_Reports_Head_Keys(string head)
    {
        string dir = TestPaths.Fixture("models", "abs_token_type", head);
        using var model = DebertaModel.FromPretrained(dir);
        var report = model.LoadReport!;
        Assert.Empty(report.MissingKeys);
        Assert.NotEmpty(report.UnexpectedKeys);
        Assert.All(report.UnexpectedKeys, k => Assert.False(k.StartsWith("deberta.", StringComparison.Ordinal)));
        var expected = ParityAssert.Load(Path.Combine(dir, "expected_padded.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = model.Forward(ParityAssert.Inputs(expected));
            for (int i = 0; i < output.HiddenStates!.Count; i++)
                ParityAssert.Close($"hidden_states.{i}", expected[$"output.hidden_states.{i}"], output.HiddenStates[i]);
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Fact]
    public void Lm_Predictions_Checkpoint_Gets_The_NonLegacy_Head_Even_When_Config_Says_Legacy()
    {
        string src = TestPaths.Fixture("models", "rel_c2p_clamped", "masked_lm");
        using var tmp = TestPaths.TempDir();
        File.Copy(Path.Combine(src, "model.safetensors"), tmp["model.safetensors"]);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        cfg["legacy"] = true;
        File.WriteAllText(tmp["config.json"], cfg.ToJsonString());

        var lines = new List<string>();
        using var model = (DebertaForMaskedLM)DebertaPreTrainedModel.FromPretrained(tmp.Path, options: new PretrainedLoadOptions { Log = lines.Add });
        Assert.False(model.UsesLegacyHead);
        Assert.Equal("lm_predictions", model.LoadReport!.MaskedLMHead);
        Assert.Contains("lm_predictions.lm_head", model.LoadReport.MaskedLMHeadReason);
        Assert.Contains(lines, l => l.StartsWith("masked LM head: lm_predictions.lm_head", StringComparison.Ordinal));
        Assert.Empty(model.LoadReport.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
        Assert.False(model.Config.Legacy);
        var expected = ParityAssert.Load(Path.Combine(src, "expected_padded.safetensors"));
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            ParityAssert.Matches(expected, model.Forward(ParityAssert.Inputs(expected)));
        }
        finally { ParityAssert.DisposeAll(expected.Values); }
    }

    [Fact]
    public void Missing_Encoder_Weights_Are_An_Error_Naming_Them_Unless_Allowed()
    {
        string src = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        using var tmp = TestPaths.TempDir();
        File.Copy(Path.Combine(src, "config.json"), tmp["config.json"]);
        var tensors = SafeTensors.Load(Path.Combine(src, "model.safetensors"));
        try
        {
            tensors.Remove("encoder.layer.1.output.dense.weight", out var removed);
            removed!.Dispose();
            SafeTensors.Save(tmp["model.safetensors"], tensors);
        }
        finally { ParityAssert.DisposeAll(tensors.Values); }

        var ex = Assert.Throws<CheckpointFormatException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Contains("encoder.layer.1.output.dense.weight", ex.Message);

        using var model = DebertaPreTrainedModel.FromPretrained(tmp.Path, options: new PretrainedLoadOptions { AllowMissingWeights = true });
        Assert.Equal(["encoder.layer.1.output.dense.weight"], model.LoadReport!.MissingKeys);
    }

    [Fact]
    public void Wrong_Shape_Is_An_Error_Naming_The_Key()
    {
        string src = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        using var tmp = TestPaths.TempDir();
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        cfg["intermediate_size"] = 40;
        File.WriteAllText(tmp["config.json"], cfg.ToJsonString());
        File.Copy(Path.Combine(src, "model.safetensors"), tmp["model.safetensors"]);
        var ex = Assert.Throws<CheckpointFormatException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Contains("intermediate.dense", ex.Message);
    }

    [Fact]
    public void Head_Comes_From_Architectures_And_Defaults_To_Base()
    {
        using (var m = DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("models", "abs_token_type", "token_classification")))
            Assert.IsType<DebertaForTokenClassification>(m);
        using var tmp = TestPaths.TempDir();
        string src = TestPaths.Fixture("models", "abs_token_type", "base");
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        cfg.Remove("architectures");
        File.WriteAllText(tmp["config.json"], cfg.ToJsonString());
        File.Copy(Path.Combine(src, "model.safetensors"), tmp["model.safetensors"]);
        using var b = DebertaPreTrainedModel.FromPretrained(tmp.Path);
        Assert.IsType<DebertaModel>(b);
    }

    /// <summary>A typed FromPretrained builds its own class whatever config.json's architectures say, and fills it with the checkpoint's weights.</summary>
    [Fact]
    public void Typed_FromPretrained_Loads_The_Checkpoint_Into_Its_Class()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Its own class's checkpoint: every weight read, none initialised, and Hugging Face's outputs reproduced.
        string qaDir = TestPaths.Fixture("models", "rel_c2p_p2c", "question_answering");
        using var m = DebertaForQuestionAnswering.FromPretrained(qaDir);
        m.eval();
        Assert.Equal(DebertaHead.QuestionAnswering, m.Head);
        Assert.Empty(m.LoadReport!.MissingKeys);
        Assert.Empty(m.LoadReport.NewlyInitializedHeadKeys);
        var qaExpected = ParityAssert.Load(Path.Combine(qaDir, "expected_single.safetensors"));
        ParityAssert.Matches(qaExpected, m.Forward(ParityAssert.Inputs(qaExpected)));

        // A base checkpoint (architectures: DebertaModel) into the typed classifier: the encoder is the checkpoint's
        // (its last hidden state is Hugging Face's DebertaModel output), the classification head is new and reported.
        string baseDir = TestPaths.Fixture("models", "rel_c2p_p2c", "base");
        Assert.Equal(["DebertaModel"], DebertaConfig.FromFile(Path.Combine(baseDir, "config.json")).Architectures!);
        using var s = DebertaForSequenceClassification.FromPretrained(baseDir);
        s.eval();
        Assert.Equal(DebertaHead.SequenceClassification, s.Head);
        Assert.Equal(2, s.Config.NumLabels);
        Assert.Contains("classifier.weight", s.LoadReport!.NewlyInitializedHeadKeys);
        Assert.All(s.LoadReport.NewlyInitializedHeadKeys, k => Assert.False(k.StartsWith("deberta.", StringComparison.Ordinal), k));
        var baseExpected = ParityAssert.Load(Path.Combine(baseDir, "expected_single.safetensors"));
        var output = s.Forward(ParityAssert.Inputs(baseExpected, outputs: false) with { OutputHiddenStates = true });
        ParityAssert.Close("last_hidden_state", baseExpected["output.last_hidden_state"], output.HiddenStates![^1]);
        Assert.Equal([1, 2], ((SequenceClassifierOutput)output).Logits.shape);
    }

    [Fact]
    public void Missing_Folder_Or_Files_Throw_Clear_Errors()
    {
        Assert.Contains("/nonexistent/deberta",
            Assert.Throws<DirectoryNotFoundException>(() => DebertaPreTrainedModel.FromPretrained("/nonexistent/deberta")).Message);
        using var tmp = TestPaths.TempDir();
        var noConfig = Assert.Throws<FileNotFoundException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Equal(tmp["config.json"], noConfig.FileName);
        Assert.Contains(tmp.Path, noConfig.Message);
        File.Copy(TestPaths.Fixture("models", "rel_c2p_p2c", "base", "config.json"), tmp["config.json"]);
        var noWeights = Assert.Throws<FileNotFoundException>(() => DebertaPreTrainedModel.FromPretrained(tmp.Path));
        Assert.Contains("model.safetensors", noWeights.Message);
        Assert.Contains("pytorch_model.bin", noWeights.Message);                                   // every name looked for
        Assert.Contains(Path.GetFullPath(tmp.Path), noWeights.Message);
    }
}
