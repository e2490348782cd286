using System.Text.Json.Nodes;
using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary><see cref="DataFiles.LoadText"/> (datasets' text builder) and <see cref="DataFiles.LoadConll"/>.</summary>
public sealed class TextAndConllLoaderTests
{
    [Fact]
    public void Text_Gives_One_Row_Per_Line_And_Keeps_Empty_Lines()
    {
        using var tmp = TestPaths.TempDir();
        DataTable t = DataFiles.Load(Write(tmp, "c.txt", "first line\r\n\nthird  \nlast"));
        Assert.Equal(["text"], t.Columns);
        Assert.Equal(DataColumnType.String, t.TypeOf("text"));
        Assert.Equal(["first line", "", "third  ", "last"], t.Rows.Select(r => Clr(r.Values["text"])));
        Assert.Equal([1, 2, 3, 4], t.Rows.Select(r => r.Line));

        // A final line break adds no row; a lone \r ends a line (universal newlines); so do str.splitlines' others.
        t = DataFiles.LoadText(Write(tmp, "d.txt", "a\rb\n\n"));
        Assert.Equal(["a", "b", ""], t.Rows.Select(r => Clr(r.Values["text"])));
        t = DataFiles.LoadText(Write(tmp, "e.txt", "x\u2028y\fz\u2029"));
        Assert.Equal(["x", "y", "z"], t.Rows.Select(r => Clr(r.Values["text"])));
    }

    [Fact]
    public void Conll_Gives_Sentences_Of_Tokens_And_Tags()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "s.conll",
            "-DOCSTART- -X- O O\n" +
            "\n" +
            "EU B-ORG\n" +
            "rejects O\n" +
            "\n\n" +
            "Peter\tNNP\tB-NP\tB-PER\n" +
            "Blackburn\tNNP\tI-NP\tI-PER\n" +
            "-DOCSTART- O\n" +
            "Hi   O\n");
        DataTable t = DataFiles.Load(path);
        Assert.Equal(["tokens", "ner_tags"], t.Columns);
        Assert.Equal(DataColumnType.List, t.TypeOf("tokens"));
        Assert.Equal(DataColumnType.List, t.TypeOf("ner_tags"));
        Assert.Equal(["[\"EU\",\"rejects\"]", "[\"Peter\",\"Blackburn\"]", "[\"Hi\"]"], t.Rows.Select(r => Json(r.Values["tokens"])));
        Assert.Equal(["[\"B-ORG\",\"O\"]", "[\"B-PER\",\"I-PER\"]", "[\"O\"]"], t.Rows.Select(r => Json(r.Values["ner_tags"])));
        Assert.Equal([3, 7, 10], t.Rows.Select(r => r.Line));
        Assert.IsType<JsonArray>(t.Rows[0].Values["tokens"]);
    }

    [Fact]
    public void A_Conll_Line_Without_A_Tag_Is_Named()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "bad.conll", "EU B-ORG\nrejects\n");
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadConll(path));
        Assert.Equal(2, e.Line);
        Assert.Contains("rejects", e.Message);
        Assert.Contains("no examples", Assert.Throws<TrainingDataException>(() => DataFiles.LoadConll(Write(tmp, "d.conll", "-DOCSTART- O\n\n"))).Message);
    }
}
