using DebertaSharp.Serialization;
using DebertaSharp.TensorFlow;
using DebertaSharp.Tests.Serialization;
using PureHDF;
using TorchSharp;
using static TorchSharp.torch;

namespace DebertaSharp.Tests.TensorFlow;

/// <summary>tf_model.h5 writing, reading, cross-loading and bad files.</summary>
public class TFCheckpointTests
{
    private static readonly string[] Heads = ["base", "masked_lm", "sequence_classification", "token_classification", "question_answering"];

    public static TheoryData<string> PtCheckpoints()
    {
        var data = new TheoryData<string>();
        foreach (string root in new[] { "models", Path.Combine("extra", "models") })
            foreach (string dir in Directory.GetDirectories(TestPaths.Fixture(root)).SelectMany(Directory.GetDirectories).Order(StringComparer.Ordinal))
                data.Add(Path.GetRelativePath(TestPaths.Fixtures, dir));
        return data;
    }

    /// <summary>PyTorch → TF (fromPt) → tf_model.h5 → PyTorch (FromTf) → model.safetensors gives back every tensor bit for bit.</summary>
    [Theory]
    [MemberData(nameof(PtCheckpoints))]
    public void PtToTfToPtIsBitExact(string modelDir)
    {
        using var tmp = TestPaths.TempDir();
        string tfDir = tmp["tf"], ptDir = tmp["pt"];
        using (var tf = TFDebertaPreTrainedModel.FromPretrained(TestPaths.Fixture(modelDir), fromPt: true)) tf.SavePretrained(tfDir);
        using (var pt = DebertaPreTrainedModel.FromPretrained(tfDir, options: new PretrainedLoadOptions { FromTf = true })) pt.SavePretrained(ptDir);
        using var originalOwned = new SerializationTestUtil.Owned(SafeTensors.Load(TestPaths.Fixture(modelDir, "model.safetensors")));
        using var backOwned = new SerializationTestUtil.Owned(SafeTensors.Load(Path.Combine(ptDir, "model.safetensors")));
        var (original, back) = (originalOwned.Dict, backOwned.Dict);
        using var scope = NewDisposeScope();                                            // the comparisons' tensors
        // transformers 5's non-legacy MLM head comes back under the TF head's (legacy) names.
        static string Legacy(string k) => k.StartsWith("lm_predictions.lm_head.", StringComparison.Ordinal)
            ? (k.EndsWith(".bias", StringComparison.Ordinal) && k.Count(c => c == '.') == 2 ? "cls.predictions.bias" : "cls.predictions.transform." + k["lm_predictions.lm_head.".Length..])
            : k;
        Assert.Equal(original.Keys.Select(Legacy).Order(StringComparer.Ordinal), back.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, t) in original)
        {
            var b = back[Legacy(k)];
            Assert.Equal(t.dtype, b.dtype);
            Assert.Equal(t.shape, b.shape);
            Assert.True(t.eq(b).all().item<bool>(), $"{modelDir}: {k} differs after the round trip");
        }
    }

    /// <summary>
    /// DebertaSharp's tf_model.h5 has exactly the groups, datasets (paths, shapes, dtypes, values), and name lists of
    /// the h5py-written file of the same checkpoint, compared by a plain HDF5 walk.
    /// </summary>
    [Theory]
    [InlineData("rel_c2p_p2c/base")]
    [InlineData("rel_c2p_p2c/masked_lm")]
    [InlineData("rel_c2p_p2c/sequence_classification")]
    [InlineData("rel_c2p_p2c/token_classification")]
    [InlineData("rel_c2p_p2c/question_answering")]
    [InlineData("problem_types/regression")]
    public void WrittenLayoutEqualsIndependentWriter(string variantHead)
    {
        using var tmp = TestPaths.TempDir();
        using (var tf = TFDebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("models", variantHead), fromPt: true)) tf.SavePretrained(tmp.Path);
        var ours = Walk(tmp["tf_model.h5"]);
        var theirs = Walk(TestPaths.Fixture("tf_h5", variantHead, "tf_model.h5"));
        Assert.Equal(theirs.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (path, want) in theirs) Assert.True(want == ours[path], $"{path}: h5py wrote {want}, DebertaSharp {ours[path]}");
        Assert.Contains("/deberta/" + KerasLayout.ModelName(HeadOf(variantHead)) + "/deberta/encoder/layer_._0/attention/self/in_proj/kernel:0", ours.Keys);
    }

    private static DebertaHead HeadOf(string variantHead) => Path.GetFileName(variantHead) switch
    {
        "base" => DebertaHead.Base,
        "masked_lm" => DebertaHead.MaskedLM,
        "token_classification" => DebertaHead.TokenClassification,
        "question_answering" => DebertaHead.QuestionAnswering,
        _ => DebertaHead.SequenceClassification,
    };

    /// <summary>Every object of an h5 file: datasets as "shape dtype checksum", groups with their name-list attributes.</summary>
    private static Dictionary<string, string> Walk(string file)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        using var h5 = H5File.OpenRead(file);
        void Visit(IH5Group group, string path)
        {
            var lists = group.Attributes().Where(a => a.Name is "layer_names" || a.Name.StartsWith("weight_names", StringComparison.Ordinal))
                .OrderBy(a => a.Name, StringComparer.Ordinal)
                .Select(a => a.Name + "=" + string.Join(",", (KerasH5.ReadStrings(file, group, a.Name) ?? []).Order(StringComparer.Ordinal)));   // sets: the order is not part of the format
            result[path + "/"] = string.Join(";", lists);
            foreach (var child in group.Children())
            {
                string p = path + "/" + child.Name;
                if (child is IH5Group g) Visit(g, p);
                else if (child is IH5Dataset d)
                {
                    var values = d.Read<float[]>();
                    double sum = values.Select((v, i) => (double)v * (i % 7 + 1)).Sum();
                    result[p] = $"[{string.Join(",", d.Space.Dimensions)}] {d.Type.Class}{d.Type.Size} {sum:R}";
                }
            }
        }
        Visit(h5, "");
        return result;
    }

    /// <summary>The root and group attributes transformers' loader reads: layer_names in model order, weight_names full names.</summary>
    [Fact]
    public void WritesKerasAttributes()
    {
        using var tmp = TestPaths.TempDir();
        using (var tf = TFDebertaForSequenceClassification.FromPretrained(TestPaths.Fixture("models", "rel_c2p_p2c", "sequence_classification"), fromPt: true))
        {
            Assert.Equal("tf_deberta_for_sequence_classification", tf.Name);
            Assert.Contains("tf_deberta_for_sequence_classification/deberta/encoder/rel_embeddings.weight:0", tf.WeightNames);
            tf.SavePretrained(tmp.Path);
        }
        using var h5 = H5File.OpenRead(tmp["tf_model.h5"]);
        Assert.Equal(["deberta", "pooler", "cls_dropout", "classifier"], KerasH5.ReadStrings(tmp["tf_model.h5"], h5, "layer_names"));
        Assert.Equal("tensorflow", h5.Attribute("backend").Read<string>());
        Assert.Equal(H5DataTypeClass.String, h5.Attribute("layer_names").Type.Class);   // fixed-length byte strings, as numpy's |S
        Assert.Equal(["tf_deberta_for_sequence_classification/classifier/kernel:0", "tf_deberta_for_sequence_classification/classifier/bias:0"],
            KerasH5.ReadStrings(tmp["tf_model.h5"], h5.Group("classifier"), "weight_names"));
        Assert.Empty(KerasH5.ReadStrings(tmp["tf_model.h5"], h5.Group("cls_dropout"), "weight_names")!);
        var kernel = h5.Group("deberta").Dataset("tf_deberta_for_sequence_classification/deberta/encoder/layer_._0/attention/self/in_proj/kernel:0");
        Assert.Equal([32UL, 96UL], kernel.Space.Dimensions);   // [in, out]: the transpose of PyTorch's [96, 32]
        Assert.Equal(4, kernel.Type.Size);
        var config = DebertaConfig.FromFile(tmp["config.json"]);
        Assert.Equal(["DebertaForSequenceClassification"], config.Architectures);   // TF save_pretrained strips "TF"
    }

    /// <summary>Lists past 64512 bytes are split into name0..nameN-1 as numpy.array_split does.</summary>
    [Fact]
    public void SplitsLongListsAsKeras()
    {
        var names = Enumerable.Range(0, 1000).Select(i => $"m/deberta/w{i}").ToList();
        var chunks = KerasH5.SplitForHeader(names, 100).ToList();   // 100 000 bytes → 2 chunks of 500
        Assert.Equal(["0", "1"], chunks.Select(c => c.Suffix));
        Assert.Equal([500, 500], chunks.Select(c => c.Chunk.Length));
        Assert.Single(KerasH5.SplitForHeader(names, 64));
        var odd = KerasH5.SplitForHeader(names.Take(7).ToList(), 64512 / 2).ToList();   // 7 x 32256 → 4 chunks: 2, 2, 2, 1
        Assert.Equal([2, 2, 2, 1], odd.Select(c => c.Chunk.Length));
    }

    [Theory]
    [InlineData("missing_dataset", "layer_._1/intermediate/dense/kernel:0", "no such dataset")]
    [InlineData("misshaped", "layer_._0/attention/self/in_proj/kernel:0", "shape [32, 95]")]
    [InlineData("wrong_dtype", "encoder/rel_embeddings.weight:0", "FixedPoint")]
    [InlineData("other_family", "tf_bert_model/bert/", "not a DeBERTa TF checkpoint")]
    public void BadFilesNameFileAndWeight(string bad, string weight, string detail)
    {
        string dir = TestPaths.Fixture("tf_h5", "bad", bad);
        var e = Assert.Throws<CheckpointFormatException>(() => TFDebertaModel.FromPretrained(dir));
        Assert.Contains(Path.Combine(dir, "tf_model.h5"), e.Message);
        Assert.Contains(weight, e.Message);
        Assert.Contains(detail, e.Message);
        // The PyTorch class reading the same file (FromTf) fails the same way.
        var e2 = Assert.Throws<CheckpointFormatException>(() => DebertaPreTrainedModel.FromPretrained(dir, options: new PretrainedLoadOptions { FromTf = true }));
        Assert.Contains(weight, e2.Message);
    }

    /// <summary>Truncated files (every cut of a real one, coarsely) are CheckpointFormatExceptions naming the file, never a crash.</summary>
    [Fact]
    public void TruncatedFilesAreErrors()
    {
        using var tmp = TestPaths.TempDir();
        string src = TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base");
        var bytes = File.ReadAllBytes(Path.Combine(src, "tf_model.h5"));
        File.Copy(Path.Combine(src, "config.json"), tmp["config.json"]);
        foreach (double f in new[] { 0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999 })
        {
            int n = (int)(bytes.Length * f);
            File.WriteAllBytes(tmp["tf_model.h5"], bytes[..n]);
            var e = Assert.Throws<CheckpointFormatException>(() => TFDebertaModel.FromPretrained(tmp.Path));
            Assert.Contains(tmp["tf_model.h5"], e.Message);
        }
        File.WriteAllText(tmp["tf_model.h5"], "not hdf5 at all");
        Assert.Contains("not an HDF5 file", Assert.Throws<CheckpointFormatException>(() => TFDebertaModel.FromPretrained(tmp.Path)).Message);
    }

    /// <summary>A folder with only tf_model.h5 needs FromTf for the PyTorch classes, and says so.</summary>
    [Fact]
    public void PyTorchClassExplainsFromTf()
    {
        var e = Assert.Throws<FileNotFoundException>(() => DebertaPreTrainedModel.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base")));
        Assert.Contains("FromTf", e.Message);
    }

    /// <summary>Missing head weights and unexpected ones are reported by name (Keras names for the TF classes).</summary>
    [Fact]
    public void ReportsMissingAndUnexpected()
    {
        using (var tf = TFDebertaForSequenceClassification.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base")))
        {
            Assert.Contains("tf_deberta_for_sequence_classification/pooler/dense/kernel:0", tf.LoadReport!.NewlyInitializedHeadKeys);
            Assert.Contains("tf_deberta_for_sequence_classification/classifier/bias:0", tf.LoadReport.MissingKeys);
        }
        using (var tf = TFDebertaModel.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "question_answering")))
            Assert.Contains("qa_outputs/kernel:0", tf.LoadReport!.UnexpectedKeys);
        var fromTf = new PretrainedLoadOptions { FromTf = true };
        using (var pt = DebertaForQuestionAnswering.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base"), options: fromTf))
            Assert.Contains("qa_outputs.weight", pt.LoadReport!.NewlyInitializedHeadKeys);
        using (var pt = DebertaForMaskedLM.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "sequence_classification"), options: fromTf))
            Assert.Contains("classifier.weight", pt.LoadReport!.UnexpectedKeys);
    }

    /// <summary>training: true switches dropout on for that call only; training: false is deterministic and equals eval.</summary>
    [Fact]
    public void TrainingFlagSwitchesDropout()
    {
        using var model = TFDebertaModel.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base"));
        Assert.True(model.Config.HiddenDropoutProb > 0);
        using var scope = NewDisposeScope();
        var ids = tensor(new long[,] { { 1, 5, 9, 14, 2 } });
        var a = model.Call(ids).LastHiddenState;
        var t1 = model.Call(ids, training: true).LastHiddenState;
        var t2 = model.Call(ids, training: true).LastHiddenState;
        var b = model.Call(ids).LastHiddenState;
        Assert.True(a.eq(b).all().item<bool>(), "training: false must be deterministic");
        Assert.False(a.allclose(t1, 1e-4, 1e-5), "training: true must apply dropout");
        Assert.False(t1.allclose(t2, 1e-4, 1e-5), "each training call draws new dropout masks");
        Assert.False(model.Engine.training);
    }

    /// <summary>TFDebertaXSoftmax: a fully padded query row attends nowhere (zeros), where the PyTorch family is uniform.</summary>
    [Fact]
    public void PaddedQueryRowsHaveZeroAttention()
    {
        using var model = TFDebertaModel.FromPretrained(TestPaths.Fixture("tf_h5", "rel_c2p_p2c", "base"));
        using var scope = NewDisposeScope();
        var ids = tensor(new long[,] { { 1, 5, 9, 2, 0 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 0 } });
        var att = model.Call(ids, mask, outputAttentions: true).Attentions![0];          // [1, heads, 5, 5]
        Assert.Equal(0.0, att[0, .., 4, ..].abs().sum().item<float>());
        Assert.Equal(0.0, att[0, .., ..4, 4].abs().sum().item<float>());
        var rowSums = att[0, .., ..4, ..].sum(-1);
        Assert.True(rowSums.allclose(ones_like(rowSums), 1e-5, 1e-6));
    }

    /// <summary>Loss shapes of the TF mixins and their -100 / negative-label rules.</summary>
    [Fact]
    public void TFLossShapesAndMasking()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 1, 2, 0.5f, -1, 0, 3 }).reshape(1, 2, 3);
        var labels = tensor(new long[,] { { 2, -100 } });
        var lm = TFLosses.MaskedLM(logits, labels);
        Assert.Equal([1L], lm.shape);
        double expected = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(0.5)) - 0.5;
        Assert.Equal(expected, lm.item<float>(), 5);
        // -1 counts for the masked LM (relu → class 0) but not for token classification (labels >= 0).
        var withMinusOne = tensor(new long[,] { { 2, -1 } });
        Assert.NotEqual(expected, TFLosses.MaskedLM(logits, withMinusOne).item<float>(), 5);
        Assert.Equal(expected, TFLosses.TokenClassification(logits, withMinusOne).item<float>(), 5);
        var seq = TFLosses.SequenceClassification(tensor(new float[,] { { 0, 1 }, { 2, 0 } }), tensor(new long[] { 1, 1 }));
        Assert.Equal([2L], seq.shape);
        // CE by hand: example 0 = log(1 + e) - 1, example 1 = log(e^2 + 1) - 0; [B, 1] ids are flattened as Keras does.
        Assert.Equal(Math.Log(1 + Math.E) - 1, seq[0].item<float>(), 5);
        Assert.Equal(Math.Log(Math.Exp(2) + 1), seq[1].item<float>(), 5);
        var column = TFLosses.SequenceClassification(tensor(new float[,] { { 0, 1 }, { 2, 0 } }), tensor(new long[,] { { 1 }, { 1 } }));
        Assert.Equal(seq.data<float>().ToArray(), column.data<float>().ToArray());
        var mse = TFLosses.SequenceClassification(tensor(new float[,] { { 0.5f }, { 2 } }), tensor(new float[] { 1, 1 }));
        Assert.Equal([2L], mse.shape);
        Assert.Equal([0.25f, 1f], mse.data<float>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => TFLosses.QuestionAnswering(zeros(1, 4), zeros(1, 4), tensor(new long[] { 4 }), tensor(new long[] { 0 })));
    }
}
