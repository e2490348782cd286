using System.Text.Json.Nodes;
using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary><see cref="DataFiles.LoadJson"/>: datasets' json builder (JSON lines, or one document with a field).</summary>
public sealed class JsonLoaderTests
{
    [Fact]
    public void Json_Lines_Take_The_Union_Of_Keys_In_First_Seen_Order()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "a.jsonl",
            "{\"sentence\": \"good\", \"label\": 1}\n" +
            "\n" +
            "{\"label\": 0, \"sentence\": \"bad\", \"idx\": 7}\r\n" +
            "   \n" +
            "{\"sentence\": \"meh\", \"label\": 1}");
        DataTable t = DataFiles.LoadJson(path);
        Assert.Equal(["sentence", "label", "idx"], t.Columns);
        Assert.Equal([1, 3, 5], t.Rows.Select(r => r.Line));
        Assert.Equal(["sentence", "label", "idx"], t.Rows[1].Values.Keys);
        Assert.Null(t.Rows[0].Values["idx"]);
        Assert.Equal(7L, Clr(t.Rows[1].Values["idx"]));
        Assert.Equal(DataColumnType.Integer, t.TypeOf("label"));
        Assert.Equal(DataColumnType.Integer, t.TypeOf("idx"));
        Assert.Equal(DataColumnType.String, t.TypeOf("sentence"));
    }

    [Fact]
    public void Column_Types_Are_Inferred_Over_The_Whole_Column()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "types.jsonl",
            "{\"i\": 1, \"f\": 1, \"b\": true, \"s\": \"x\", \"m\": 1, \"l\": [1, 2.5], \"o\": {\"k\": 1}, \"n\": null}\n" +
            "{\"i\": 2, \"f\": 0.5, \"b\": false, \"s\": null, \"m\": \"two\", \"l\": null, \"o\": {\"k\": 2}, \"n\": null}\n");
        DataTable t = DataFiles.Load(path);
        Assert.Equal(DataColumnType.Integer, t.TypeOf("i"));
        Assert.Equal(DataColumnType.Float, t.TypeOf("f"));
        Assert.Equal([1.0, 0.5], t.Rows.Select(r => Clr(r.Values["f"])));
        Assert.Equal(DataColumnType.Bool, t.TypeOf("b"));
        Assert.Equal(DataColumnType.String, t.TypeOf("s"));
        Assert.Equal(DataColumnType.String, t.TypeOf("m"));
        Assert.Equal(["1", "two"], t.Rows.Select(r => Clr(r.Values["m"])));
        Assert.Equal(DataColumnType.List, t.TypeOf("l"));
        Assert.Equal(1.0, Clr(((JsonArray)t.Rows[0].Values["l"]!)[0])); // [1, 2.5] is a list of doubles
        Assert.Equal(DataColumnType.Object, t.TypeOf("o"));
        Assert.Equal(DataColumnType.Null, t.TypeOf("n"));
        var e = Assert.Throws<TrainingDataException>(() => t.TypeOf("label"));
        Assert.Equal("label", e.Column);
        Assert.Contains("'i'", e.Message);
    }

    [Fact]
    public void Values_Can_Be_Moved_Into_Other_Nodes()
    {
        using var tmp = TestPaths.TempDir();
        DataTable t = DataFiles.LoadJson(Write(tmp, "d.json", "[{\"tokens\": [\"a\", \"b\"]}]"));
        var copy = new JsonObject { ["tokens"] = t.Rows[0].Values["tokens"] };
        Assert.Equal("{\"tokens\":[\"a\",\"b\"]}", copy.ToJsonString());
    }

    [Fact]
    public void A_Document_Is_An_Array_Or_An_Object_With_A_Field()
    {
        using var tmp = TestPaths.TempDir();
        string array = Write(tmp, "array.json", "[\n  {\"a\": 1},\n  {\"a\": 2, \"b\": \"x\"}\n]\n");
        DataTable t = DataFiles.LoadJson(array);
        Assert.Equal(["a", "b"], t.Columns);
        Assert.Equal([2, 3], t.Rows.Select(r => r.Line));

        string nested = Write(tmp, "nested.json", "{\n \"version\": 2,\n \"rows\": [\n  {\"a\": 1},\n  {\"a\": 2}\n ]\n}");
        t = DataFiles.LoadJson(nested, "rows");
        Assert.Equal([1L, 2L], t.Rows.Select(r => Clr(r.Values["a"])));
        Assert.Equal([4, 5], t.Rows.Select(r => r.Line));
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(nested, "data"));
        Assert.Equal("data", e.Column);
        Assert.Contains("'rows'", e.Message);
        // A pretty-printed object without a field: datasets asks for the field too.
        Assert.Contains("field", Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(nested)).Message);

        // Without a field, "data" holding records is read (Hugging Face's {"data": [...]} files), on one line or many.
        t = DataFiles.LoadJson(Write(tmp, "data.json", "{\"version\": \"1\", \"data\": [{\"a\": 1}, {\"a\": 2}]}"));
        Assert.Equal(2, t.Rows.Count);
        t = DataFiles.LoadJson(Write(tmp, "data2.json", "{\n\"data\": [{\"a\": 1}, {\"a\": 2}, {\"a\": 3}]}"));
        Assert.Equal(3, t.Rows.Count);

        // pandas reads a field holding an object of columns, and datasets a list of strings as one column "text".
        t = DataFiles.LoadJson(Write(tmp, "cols.json", "{\"d\": {\"x\": [1, 2], \"y\": [\"a\", \"b\"]}}"), "d");
        Assert.Equal(["x", "y"], t.Columns);
        Assert.Equal("b", Clr(t.Rows[1].Values["y"]));
        t = DataFiles.LoadJson(Write(tmp, "strings.json", "[\"one\", \"two\"]"));
        Assert.Equal(["text"], t.Columns);
        Assert.Equal(["one", "two"], t.Rows.Select(r => Clr(r.Values["text"])));
    }

    [Fact]
    public void A_Malformed_Line_Is_Named_By_Number_With_The_Json_Error()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "bad.jsonl", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3,, }\n{\"a\": 4}\n");
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(3, e.Line);
        Assert.Contains("invalid JSON", e.Message);
        Assert.Contains("bad.jsonl:3", e.Message);

        string first = Write(tmp, "bad1.jsonl", "{\"a\": tru}\n{\"a\": 2}\n");
        Assert.Equal(1, Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(first)).Line);

        string two = Write(tmp, "two.jsonl", "{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n");
        Assert.Equal(2, Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(two)).Line);

        // A lone escaped surrogate (Python accepts it) cannot become a .NET string: an error on its line, not a crash.
        string surrogate = Write(tmp, "surrogate.jsonl", "{\"a\": \"x\"}\n{\"a\": \"\\ud800\"}\n");
        Assert.Equal(2, Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(surrogate)).Line);

        string doc = Write(tmp, "bad.json", "[\n {\"a\": 1},\n {\"a\": 2\n]\n");
        e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(doc));
        Assert.Equal(4, e.Line);
    }

    [Fact]
    public void A_Line_That_Is_Not_An_Object_Is_An_Error()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "arr.jsonl", "{\"a\": 1}\n[1, 2]\n");
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(path));
        Assert.Equal(2, e.Line);
        Assert.Contains("an array", e.Message);
        Assert.Contains("a number", Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(Write(tmp, "n.jsonl", "{\"a\": 1}\n42\n"))).Message);
        Assert.Contains("record 2 is a number", Assert.Throws<TrainingDataException>(() => DataFiles.LoadJson(Write(tmp, "m.json", "[\n{\"a\": 1},\n 5\n]"))).Message);
    }

    [Fact]
    public void A_Large_Json_Lines_File_Loads_Quickly()
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["big.jsonl"];
        using (var w = new StreamWriter(path))
        {
            for (int i = 0; i < 150_000; i++)
            {
                w.Write($"{{\"tokens\": [\"The\", \"movie\", \"number\", \"{i}\", \"was\", \"fine\", \".\"], \"ner_tags\": [0, 0, 0, 1, 0, 0, 0], \"sentence\": \"The movie number {i} was fine, really quite fine.\", \"label\": {i % 2}}}\n");
            }
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        DataTable t = DataFiles.LoadJson(path);
        watch.Stop();
        Assert.Equal(150_000, t.Rows.Count);
        Assert.Equal(DataColumnType.List, t.TypeOf("tokens"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{new FileInfo(path).Length >> 20} MB took {watch.Elapsed}");
    }
}
