using System.Text.Json.Nodes;
using DebertaSharp.Pipelines;

namespace DebertaSharp.Tests.Pipelines;

/// <summary>Rules of transformers' pipelines that the fixture does not cover: the regression default and hyphenated entity names.</summary>
public sealed class PipelineReviewFixTests
{
    private static string CopyWithConfig(TempDir tmp, string model, Action<JsonObject> edit)
    {
        string dir = tmp[model];
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(TestPaths.Fixture("pipeline_models", model))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        edit(config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    [Fact]
    public void Regression_Models_Get_No_Score_Function_By_Default()
    {
        // text_classification.py postprocess: problem_type "regression" → function_to_apply NONE (the raw logit).
        using var tmp = TestPaths.TempDir();
        string dir = CopyWithConfig(tmp, "sequence_classification", c => c["problem_type"] = "regression");
        using var p = (TextClassificationPipeline)PipelineFactory.Create("text-classification", dir, TestPaths.Fixture("tokenizer", "v4_template"));
        Assert.Equal(ClassificationFunction.None, p.DefaultFunction);
        var raw = p.Classify("A short text.", topK: null, function: ClassificationFunction.None);
        var byDefault = p.Classify("A short text.", topK: null);
        Assert.Equal(raw.Select(x => x.Score), byDefault.Select(x => x.Score));
        Assert.NotEqual(raw.Select(x => x.Score), p.Classify("A short text.", topK: null, function: ClassificationFunction.Softmax).Select(x => x.Score));
    }

    [Fact]
    public void Entity_Groups_Keep_Everything_After_The_First_Dash()
    {
        // group_sub_entities: entity.split("-", 1)[-1]: "B-tax-amount" groups as "tax-amount".
        using var tmp = TestPaths.TempDir();
        string dir = CopyWithConfig(tmp, "token_classification", c =>
        {
            var names = new[] { "O", "B-tax-amount", "I-tax-amount", "B-LOC", "I-LOC" };
            c["id2label"] = new JsonObject(names.Select((n, i) => KeyValuePair.Create(i.ToString(System.Globalization.CultureInfo.InvariantCulture), (JsonNode?)n)));
            c["label2id"] = new JsonObject(names.Select((n, i) => KeyValuePair.Create(n, (JsonNode?)i)));
        });
        using var p = (TokenClassificationPipeline)PipelineFactory.Create("token-classification", dir, TestPaths.Fixture("tokenizer", "v4_template"));
        var texts = JsonNode.Parse(File.ReadAllText(TestPaths.Fixture("pipelines_expected_public.json")))!["texts"]!["ner"]!.AsArray().Select(t => (string)t!);
        var groups = texts.SelectMany(t => p.Recognize(t, AggregationStrategy.Simple)).Select(e => e.EntityGroup).Distinct().ToList();
        Assert.Contains("tax-amount", groups);
        Assert.DoesNotContain("amount", groups);
    }
}
