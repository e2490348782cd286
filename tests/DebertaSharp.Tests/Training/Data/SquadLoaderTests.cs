using DebertaSharp.Training;
using static DebertaSharp.Tests.Training.DataTestFiles;

namespace DebertaSharp.Tests.Training;

/// <summary><see cref="DataFiles.LoadSquad"/>: official nested SQuAD v1.1/v2.0 and Hugging Face's flat records.</summary>
public sealed class SquadLoaderTests
{
    private const string Nested = """
        {"version": "v2.0", "data": [
          {"title": "Rivers", "paragraphs": [
            {"context": "The Nile flows north.",
             "qas": [
               {"id": "q1", "question": "What flows north?", "answers": [{"text": "The Nile", "answer_start": 0}]},
               {"id": "q2", "question": "Which way?", "answers": [{"text": "north", "answer_start": 15}, {"text": "north.", "answer_start": 15}]},
               {"id": "q3", "question": "Why?", "answers": [], "plausible_answers": [{"text": "Nile", "answer_start": 4}], "is_impossible": true}
             ]}
          ]}
        ]}
        """;

    [Fact]
    public void Nested_Squad_Gives_Flat_Rows_And_Impossible_Questions_Get_No_Answers()
    {
        using var tmp = TestPaths.TempDir();
        DataTable t = DataFiles.LoadSquad(Write(tmp, "v2.json", Nested));
        Assert.Equal(["id", "title", "context", "question", "answers"], t.Columns);
        Assert.Equal(DataColumnType.Object, t.TypeOf("answers"));
        Assert.Equal(DataColumnType.String, t.TypeOf("context"));
        Assert.Equal(["q1", "q2", "q3"], t.Rows.Select(r => Clr(r.Values["id"])));
        Assert.All(t.Rows, r => Assert.Equal("Rivers", Clr(r.Values["title"])));
        Assert.Equal("{\"text\":[\"north\",\"north.\"],\"answer_start\":[15,15]}", Json(t.Rows[1].Values["answers"]));
        Assert.Equal("{\"text\":[],\"answer_start\":[]}", Json(t.Rows[2].Values["answers"]));
        Assert.Equal([5, 6, 7], t.Rows.Select(r => r.Line));
    }

    [Fact]
    public void Flat_Records_Read_As_Json_Lines_Or_Under_Data()
    {
        using var tmp = TestPaths.TempDir();
        const string r1 = "{\"id\": \"a\", \"title\": \"T\", \"context\": \"Héllo 🌍 world\", \"question\": \"Which?\", \"answers\": {\"text\": [\"world\"], \"answer_start\": [8]}}";
        const string r2 = "{\"id\": \"b\", \"context\": \"xyz\", \"question\": \"Q\", \"answers\": {\"text\": [], \"answer_start\": []}}";
        foreach (string text in new[] { r1 + "\n" + r2 + "\n", "{\"data\": [" + r1 + ", " + r2 + "]}", "[\n" + r1 + ",\n" + r2 + "\n]" })
        {
            DataTable t = DataFiles.LoadSquad(Write(tmp, "flat.json", text));
            Assert.Equal(2, t.Rows.Count);
            // answer_start counts code points, as Python does: the emoji is one character, not two UTF-16 units.
            Assert.Equal("{\"text\":[\"world\"],\"answer_start\":[8]}", Json(t.Rows[0].Values["answers"]));
            Assert.Equal("", Clr(t.Rows[1].Values["title"]));
        }
    }

    [Fact]
    public void Answers_Outside_The_Context_Or_Not_Matching_It_Name_The_Question()
    {
        using var tmp = TestPaths.TempDir();
        string outside = Write(tmp, "outside.json", Nested.Replace("\"answer_start\": 15}, {", "\"answer_start\": 19}, {"));
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(outside));
        Assert.Contains("'q2'", e.Message);
        Assert.Contains("outside the context", e.Message);
        Assert.Equal("answers", e.Column);
        Assert.Equal(6, e.Line);

        string mismatch = Write(tmp, "mismatch.json", Nested.Replace("\"answer_start\": 0}", "\"answer_start\": 1}"));
        e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(mismatch));
        Assert.Contains("'q1'", e.Message);
        Assert.Contains("not the answer text", e.Message);

        string negative = Write(tmp, "negative.json", Nested.Replace("\"answer_start\": 0}", "\"answer_start\": -1}"));
        Assert.Contains("outside the context", Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(negative)).Message);

        string notInt = Write(tmp, "float.json", Nested.Replace("\"answer_start\": 0}", "\"answer_start\": \"0\"}"));
        Assert.Contains("must be an integer", Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(notInt)).Message);
    }

    [Fact]
    public void Duplicate_Ids_And_Missing_Keys_Are_Errors()
    {
        using var tmp = TestPaths.TempDir();
        string dup = Write(tmp, "dup.json", Nested.Replace("\"id\": \"q2\"", "\"id\": \"q1\""));
        var e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(dup));
        Assert.Contains("'q1' appears twice", e.Message);
        Assert.Equal(6, e.Line);

        string noContext = Write(tmp, "noctx.jsonl", "{\"id\": \"a\", \"question\": \"Q\", \"answers\": {\"text\": [], \"answer_start\": []}}\n");
        e = Assert.Throws<TrainingDataException>(() => DataFiles.LoadSquad(noContext));
        Assert.Equal("context", e.Column);
        Assert.Equal(1, e.Line);
    }
}
