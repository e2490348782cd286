using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary><see cref="DataFiles.LoadCsv"/>: pandas.read_csv's defaults (what datasets' csv builder uses).</summary>
public sealed class CsvLoaderTests
{
    [Fact]
    public void Quoting_Follows_Rfc4180_And_Rows_Know_Their_Start_Line()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "q.csv",
            "sentence,label\n" +
            "\"a, b\",1\n" +
            "\"say \"\"hi\"\"\",0\n" +
            "\n" +
            "\"two\nlines\",1\r\n" +
            "plain,0");
        DataTable t = DataFiles.LoadCsv(path);
        Assert.Equal(["sentence", "label"], t.Columns);
        Assert.Equal(4, t.Rows.Count);
        Assert.Equal("a, b", Clr(t.Rows[0].Values["sentence"]));
        Assert.Equal("say \"hi\"", Clr(t.Rows[1].Values["sentence"]));
        Assert.Equal("two\nlines", Clr(t.Rows[2].Values["sentence"]));
        Assert.Equal("plain", Clr(t.Rows[3].Values["sentence"]));
        Assert.Equal([2, 3, 5, 7], t.Rows.Select(r => r.Line));
        Assert.Equal(DataColumnType.Integer, t.TypeOf("label"));
        Assert.Equal(1L, Clr(t.Rows[0].Values["label"]));
        Assert.Equal(DataColumnType.String, t.TypeOf("sentence"));
    }

    [Fact]
    public void Columns_Are_Typed_Like_Pandas_Dtypes()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "types.csv",
            "int,float,intgap,flag,text,mixed,empty\n" +
            "1,0.5,1,True,x,1,\n" +
            "-2,3,,false,,a,\n" +
            "30,1e3,3,FALSE,NA,2.5,\n");
        DataTable t = DataFiles.LoadCsv(path);
        Assert.Equal(DataColumnType.Integer, t.TypeOf("int"));
        Assert.Equal([1L, -2L, 30L], t.Rows.Select(r => Clr(r.Values["int"])));

        // Any float makes the column float64; the ints in it become doubles.
        Assert.Equal(DataColumnType.Float, t.TypeOf("float"));
        Assert.Equal([0.5, 3.0, 1000.0], t.Rows.Select(r => Clr(r.Values["float"])));

        // Integers with a missing cell are float64 in pandas (NaN → null): run_glue would call this regression.
        Assert.Equal(DataColumnType.Float, t.TypeOf("intgap"));
        Assert.Equal([1.0, null, 3.0], t.Rows.Select(r => Clr(r.Values["intgap"])));

        Assert.Equal(DataColumnType.Bool, t.TypeOf("flag"));
        Assert.Equal([true, false, false], t.Rows.Select(r => Clr(r.Values["flag"])));

        // Empty and "NA" cells are missing (pandas' default na_values), even in a text column.
        Assert.Equal(DataColumnType.String, t.TypeOf("text"));
        Assert.Equal(["x", null, null], t.Rows.Select(r => Clr(r.Values["text"])));

        // Numbers mixed with text: object dtype, every cell kept as written.
        Assert.Equal(DataColumnType.String, t.TypeOf("mixed"));
        Assert.Equal(["1", "a", "2.5"], t.Rows.Select(r => Clr(r.Values["mixed"])));

        // All missing: float64 of NaN.
        Assert.Equal(DataColumnType.Float, t.TypeOf("empty"));
        Assert.All(t.Rows, r => Assert.Null(r.Values["empty"]));
    }

    [Fact]
    public void Header_Names_Are_Made_Unique_As_Pandas_Does()
    {
        using var tmp = TestPaths.TempDir();
        DataTable t = DataFiles.LoadCsv(Write(tmp, "h.csv", "a,a,,b\n1,2,3,4\n"));
        Assert.Equal(["a", "a.1", "Unnamed: 2", "b"], t.Columns);
        Assert.Equal(3L, Clr(t.Rows[0].Values["Unnamed: 2"]));
    }

    [Fact]
    public void Tsv_Uses_Tabs_And_Keeps_Commas()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "t.tsv", "sentence\tlabel\nhello, world\tpos\nbye\tneg\n");
        DataTable t = DataFiles.Load(path);
        Assert.Equal(["hello, world", "bye"], t.Rows.Select(r => Clr(r.Values["sentence"])));
        Assert.Equal(DataColumnType.String, t.TypeOf("label"));
    }

    [Fact]
    public void A_Ragged_Row_Names_The_File_And_Line()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "ragged.csv", "a,b\n1,2\n\"x\ny\",2\n1,2,3\n");
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadCsv(path));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(5, e.Line);
        Assert.Contains("expected 2 fields", e.Message);
        Assert.Contains("ragged.csv:5", e.Message);

        string shortRow = Write(tmp, "short.csv", "a,b\n1\n");
        Assert.Equal(2, Assert.Throws<TrainingDataException>(() => DataFiles.LoadCsv(shortRow)).Line);
    }

    [Fact]
    public void An_Unclosed_Quote_Names_The_Line_It_Opens_On()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "open.csv", "a,b\n1,2\n\"never closed,3\n4,5\n");
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadCsv(path));
        Assert.Equal(3, e.Line);
        Assert.Contains("never closed", e.Message);
    }

    [Fact]
    public void A_Header_Without_Rows_Has_No_Examples()
    {
        using var tmp = TestPaths.TempDir();
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadCsv(Write(tmp, "h.csv", "sentence,label\n\n")));
        Assert.Contains("no examples", e.Message);
    }

    [Fact]
    public void A_Large_File_Loads_Quickly()
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp["big.csv"];
        using (var w = new StreamWriter(path))
        {
            w.Write("sentence,label,score\n");
            for (int i = 0; i < 200_000; i++)
            {
                w.Write($"\"The movie number {i}, which was quite something to see\",{i % 3},{i * 0.25}\n");
            }
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        DataTable t = DataFiles.LoadCsv(path);
        watch.Stop();
        Assert.Equal(200_000, t.Rows.Count);
        Assert.Equal(DataColumnType.Integer, t.TypeOf("label"));
        Assert.Equal(DataColumnType.Float, t.TypeOf("score"));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{new FileInfo(path).Length >> 20} MB took {watch.Elapsed}");
    }
}
