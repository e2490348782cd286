using System.Text;
using System.Text.Unicode;

namespace DebertaSharp.Training;

/// <summary>
/// Reads a UTF-8 file line by line without decoding the whole file: a leading byte-order mark is skipped, and
/// <c>\n</c>, <c>\r\n</c> and a lone <c>\r</c> end a line (Python's universal newlines, which <c>datasets</c>' text
/// builder opens files with, and pandas' C tokenizer both accept all three). Every line is checked to be valid UTF-8,
/// so a bad byte is reported with its line number rather than as a garbled value later.
/// </summary>
internal sealed class Utf8LineReader : IDisposable
{
    private readonly FileStream _stream;
    private byte[] _buffer = new byte[1 << 16];
    private int _start;
    private int _end;
    private bool _eof;
    private bool _first = true;

    /// <summary>Opens <paramref name="path"/> (already checked by <see cref="DataFileChecks.Require"/>).</summary>
    public Utf8LineReader(string path)
    {
        Path = path;
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The 1-based number of the line last returned by <see cref="TryReadLine"/> (0 before the first).</summary>
    public int LineNumber { get; private set; }

    /// <summary>
    /// The next line without its terminator, as validated UTF-8 bytes valid until the next call; false at the end of
    /// the file. <paramref name="terminator"/> is the terminator that ended it ("" for a last line without one).
    /// </summary>
    public bool TryReadLine(out ReadOnlySpan<byte> line, out string terminator)
    {
        while (true)
        {
            if (_first)
            {
                Fill(); // until the byte-order mark can be recognised
                continue;
            }
            ReadOnlySpan<byte> pending = _buffer.AsSpan(_start, _end - _start);
            int i = pending.IndexOfAny((byte)'\n', (byte)'\r');
            // A '\r' at the very end of the buffer may be the first half of "\r\n": read on before deciding.
            if (i >= 0 && !(pending[i] == (byte)'\r' && i == pending.Length - 1 && !_eof))
            {
                int terminatorLength = pending[i] == (byte)'\r' && i + 1 < pending.Length && pending[i + 1] == (byte)'\n' ? 2 : 1;
                terminator = terminatorLength == 2 ? "\r\n" : pending[i] == (byte)'\n' ? "\n" : "\r";
                line = pending[..i];
                _start += i + terminatorLength;
                return Validate(line);
            }
            if (_eof)
            {
                terminator = "";
                if (pending.IsEmpty)
                {
                    line = default;
                    return false;
                }
                line = pending;
                _start = _end;
                return Validate(line);
            }
            Fill();
        }
    }

    /// <summary>The next line decoded to a string, or null at the end of the file.</summary>
    public string? ReadLine() => ReadLine(out _);

    /// <summary>The next line decoded to a string and the terminator that ended it, or null at the end of the file.</summary>
    public string? ReadLine(out string terminator)
    {
        return TryReadLine(out ReadOnlySpan<byte> line, out terminator) ? Encoding.UTF8.GetString(line) : null;
    }

    private bool Validate(ReadOnlySpan<byte> line)
    {
        LineNumber++;
        Utf8Text.Require(line, Path, LineNumber);
        return true;
    }

    private void Fill()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
        int read = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _eof = true;
        }
        _end += read;
        if (_first && (_end >= 3 || _eof))
        {
            if (_buffer.AsSpan(0, _end).StartsWith(Utf8Text.Bom))
            {
                _start = 3;
            }
            _first = false;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _stream.Dispose();
}

/// <summary>UTF-8 checks shared by the readers.</summary>
internal static class Utf8Text
{
    /// <summary>The UTF-8 byte-order mark, which every reader accepts (and drops) at the start of a file.</summary>
    public static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Throws a <see cref="TrainingDataException"/> naming the line when <paramref name="bytes"/> is not valid UTF-8.</summary>
    /// <param name="bytes">The bytes to check.</param>
    /// <param name="path">The file they come from.</param>
    /// <param name="firstLine">The 1-based line <paramref name="bytes"/> starts on.</param>
    public static void Require(ReadOnlySpan<byte> bytes, string path, int firstLine)
    {
        if (Utf8.IsValid(bytes))
        {
            return;
        }
        int offset = 0;
        while (Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed) == System.Buffers.OperationStatus.Done)
        {
            offset += consumed;
        }
        ReadOnlySpan<byte> before = bytes[..offset];
        int line = firstLine + before.Count((byte)'\n');
        int lineStart = before.LastIndexOf((byte)'\n') + 1;
        throw new TrainingDataException(path, line, null,
            $"invalid UTF-8 (byte 0x{bytes[offset]:X2} at byte {offset - lineStart + 1} of the line); the file must be UTF-8 encoded");
    }

    /// <summary>
    /// The whole file as validated UTF-8 bytes without the byte-order mark, for the formats read as one document
    /// (a JSON array or object, SQuAD).
    /// </summary>
    public static ReadOnlyMemory<byte> ReadAll(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int start = bytes.AsSpan().StartsWith(Bom) ? 3 : 0;
        ReadOnlyMemory<byte> text = bytes.AsMemory(start);
        Require(text.Span, path, 1);
        return text;
    }
}

/// <summary>The checks every reader makes before opening a file.</summary>
internal static class DataFileChecks
{
    /// <summary>Throws <see cref="FileNotFoundException"/> or a <see cref="TrainingDataException"/> (a directory) unless <paramref name="path"/> is a file.</summary>
    public static void Require(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new TrainingDataException(path, null, null, "is a directory, not a data file; pass the file itself");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file not found: {path}", path);
        }
    }

    /// <summary>The error for a file without a single example.</summary>
    public static TrainingDataException NoExamples(string path, string? why = null)
        => new(path, null, null, why is null ? "no examples" : $"no examples ({why})");
}
