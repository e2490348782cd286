using System.Text;
using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary>The errors every reader shares: missing file, directory, empty file, bad UTF-8; the BOM; dispatch.</summary>
public sealed class DataFileErrorTests
{
    public static TheoryData<string> Extensions => new() { ".csv", ".tsv", ".json", ".jsonl", ".txt", ".conll", "squad" };

    private static DataTable LoadAs(string path, string extension) => extension == "squad" ? DataFiles.LoadSquad(path) : DataFiles.Load(path);

    private static string Name(string extension) => extension == "squad" ? "data.json" : "data" + extension;

    [Theory]
    [MemberData(nameof(Extensions))]
    public void A_Missing_File_Is_Named(string extension)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[Name(extension)];
        var e = Assert.Throws<FileNotFoundException>(() => LoadAs(path, extension));
        Assert.Equal(path, e.FileName);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [MemberData(nameof(Extensions))]
    public void A_Directory_Is_Said_To_Be_One(string extension)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[Name(extension)];
        Directory.CreateDirectory(path);
        var e = Assert.Throws<TrainingDataException>(() => LoadAs(path, extension));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("is a directory", e.Message);
    }

    [Theory]
    [MemberData(nameof(Extensions))]
    public void An_Empty_File_Has_No_Examples(string extension)
    {
        using var tmp = TestPaths.TempDir();
        foreach (byte[] bytes in new[] { Array.Empty<byte>(), [0xEF, 0xBB, 0xBF] })
        {
            string path = tmp[Name(extension)];
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<TrainingDataException>(() => LoadAs(path, extension));
            Assert.Equal(path, e.FilePath);
            Assert.Contains("no examples", e.Message);
        }
    }

    [Theory]
    [InlineData(".csv", "a,b\n1,2\n3,", ",4\n", 3)]
    [InlineData(".tsv", "a\tb\n1\t2\n3\t", "\t4\n", 3)]
    [InlineData(".jsonl", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": \"", "\"}\n", 3)]
    [InlineData(".json", "[\n{\"a\": 1},\n{\"a\": \"", "\"}\n]", 3)]
    [InlineData(".txt", "one\ntwo\nthree ", "\n", 3)]
    [InlineData(".conll", "EU B-ORG\n\nrejects O\nx", " O\n", 4)]
    [InlineData("squad", "{\"data\": [{\"title\": \"t\",\n\"paragraphs\": [{\"context\": \"", "\", \"qas\": []}]}]}", 2)]
    public void Invalid_Utf8_Is_Named_By_Line(string extension, string before, string after, int line)
    {
        using var tmp = TestPaths.TempDir();
        string path = tmp[Name(extension)];
        File.WriteAllBytes(path, [.. Encoding.UTF8.GetBytes(before), 0xC3, 0x28, .. Encoding.UTF8.GetBytes(after)]);
        var e = Assert.Throws<TrainingDataException>(() => LoadAs(path, extension));
        Assert.Equal(path, e.FilePath);
        Assert.Equal(line, e.Line);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void A_Byte_Order_Mark_Is_Accepted()
    {
        using var tmp = TestPaths.TempDir();
        byte[] bom = [0xEF, 0xBB, 0xBF];
        void WriteWithBom(string name, string text) => File.WriteAllBytes(tmp[name], [.. bom, .. Encoding.UTF8.GetBytes(text)]);
        WriteWithBom("a.csv", "label,text\n1,x\n");
        WriteWithBom("a.jsonl", "{\"label\": 1}\n");
        WriteWithBom("a.json", "[{\"label\": 1}]");
        WriteWithBom("a.txt", "label\n");
        WriteWithBom("a.conll", "label O\n");
        WriteWithBom("s.json", "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"label\", \"qas\": [{\"id\": \"1\", \"question\": \"q\", \"answers\": [{\"text\": \"label\", \"answer_start\": 0}]}]}]}]}");
        Assert.Equal("label", DataFiles.Load(tmp["a.csv"]).Columns[0]);
        Assert.Equal("label", DataFiles.Load(tmp["a.jsonl"]).Columns[0]);
        Assert.Equal("label", DataFiles.Load(tmp["a.json"]).Columns[0]);
        Assert.Equal("label", Clr(DataFiles.Load(tmp["a.txt"]).Rows[0].Values["text"]));
        Assert.Equal("[\"label\"]", Json(DataFiles.Load(tmp["a.conll"]).Rows[0].Values["tokens"]));
        Assert.Single(DataFiles.LoadSquad(tmp["s.json"]).Rows);
    }

    [Fact]
    public void An_Unknown_Extension_Is_Named()
    {
        using var tmp = TestPaths.TempDir();
        string path = Write(tmp, "data.parquet", "x");
        var e = Assert.Throws<ArgumentException>(() => DataFiles.Load(path));
        Assert.Contains(".parquet", e.Message);
        Assert.Throws<ArgumentException>(() => DataFiles.Load(Write(tmp, "a.csv", "a\n1\n"), jsonField: "data"));
    }
}
