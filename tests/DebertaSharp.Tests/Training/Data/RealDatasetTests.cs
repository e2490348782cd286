using System.Text.Json.Nodes;
using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary>The real slices in Fixtures/datasets give their published counts.</summary>
public sealed class RealDatasetTests
{
    [Fact]
    public void Sentiment_Has_2000_Labelled_Sentences()
    {
        DataTable t = DataFiles.Load(TestPaths.Fixture("datasets", "sentiment", "imdb_yelp.jsonl"));
        Assert.Equal(2000, t.Rows.Count);
        Assert.Equal(["sentence", "label"], t.Columns);
        Assert.Equal(DataColumnType.String, t.TypeOf("sentence"));
        Assert.Equal(DataColumnType.Integer, t.TypeOf("label"));   // classification, not regression
        Assert.Equal(1000, t.Rows.Count(r => (long)Clr(r.Values["label"])! == 1));
        Assert.Equal(Enumerable.Range(1, 2000), t.Rows.Select(r => r.Line));
    }

    [Fact]
    public void Wikigold_Jsonl_And_Conll_Give_The_Same_1500_Sentences()
    {
        DataTable jsonl = DataFiles.Load(TestPaths.Fixture("datasets", "wikigold", "wikigold_1500.jsonl"));
        DataTable conll = DataFiles.Load(TestPaths.Fixture("datasets", "wikigold", "wikigold_1500.conll"));
        Assert.Equal(1500, jsonl.Rows.Count);
        Assert.Equal(1500, conll.Rows.Count);
        Assert.Equal(["tokens", "ner_tags"], jsonl.Columns);
        Assert.Equal(jsonl.Columns, conll.Columns);
        Assert.Equal(DataColumnType.List, jsonl.TypeOf("ner_tags"));
        for (int i = 0; i < 1500; i++)
        {
            Assert.Equal(Json(jsonl.Rows[i].Values["tokens"]), Json(conll.Rows[i].Values["tokens"]));
            Assert.Equal(Json(jsonl.Rows[i].Values["ner_tags"]), Json(conll.Rows[i].Values["ner_tags"]));
        }
        Assert.Equal(["I-LOC", "I-MISC", "I-ORG", "I-PER", "O"],
            conll.Rows.SelectMany(r => ((JsonArray)r.Values["ner_tags"]!).Select(x => (string)Clr(x)!)).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Xquad_Has_240_Paragraphs_And_1190_Questions()
    {
        string path = TestPaths.Fixture("datasets", "xquad", "xquad.en.json");
        DataTable t = DataFiles.LoadSquad(path);
        Assert.Equal(1190, t.Rows.Count);
        Assert.Equal(240, t.Rows.Select(r => (string)Clr(r.Values["context"])!).Distinct().Count());
        Assert.Equal(1190, t.Rows.Select(r => (string)Clr(r.Values["id"])!).Distinct().Count());
        Assert.All(t.Rows, r => Assert.Single(((JsonArray)((JsonObject)r.Values["answers"]!)["text"]!)));
        DataRow first = t.Rows[0];
        Assert.Equal("56beb4343aeaaa14008c925b", Clr(first.Values["id"]));
        Assert.Equal("{\"text\":[\"308\"],\"answer_start\":[34]}", Json(first.Values["answers"]));
        Assert.Equal(8, first.Line);   // the line of the question's opening brace
        Assert.Equal(48, t.Rows.Select(r => (string)Clr(r.Values["title"])!).Distinct().Count());
    }
}
