namespace DebertaSharp.Training;

/// <summary>
/// Thrown when training, evaluation or prediction data cannot be used: a missing or empty file, a malformed line, a
/// missing column, a label unseen in training, an answer outside its context. The message names the file and, where
/// known, the 1-based line and the column (key) at fault.
/// </summary>
public sealed class TrainingDataException : Exception
{
    /// <summary>Creates the exception for a problem in <paramref name="filePath"/>.</summary>
    /// <param name="filePath">The data file at fault; null when the problem is not tied to a file.</param>
    /// <param name="line">The 1-based line (or record number for formats without lines) at fault, if any.</param>
    /// <param name="column">The column, key or field at fault, if any.</param>
    /// <param name="detail">What is wrong.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public TrainingDataException(string? filePath, int? line, string? column, string detail, Exception? innerException = null)
        : base(Format(filePath, line, column, detail), innerException)
    {
        FilePath = filePath;
        Line = line;
        Column = column;
        Detail = detail;
    }

    /// <summary>The data file at fault, when known.</summary>
    public string? FilePath { get; }

    /// <summary>The 1-based line (or record number) at fault, when known.</summary>
    public int? Line { get; }

    /// <summary>The column, key or field at fault, when known.</summary>
    public string? Column { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Detail { get; }

    private static string Format(string? filePath, int? line, string? column, string detail)
    {
        string where = filePath ?? "";
        if (line is int l) where += (where.Length > 0 ? ":" : "line ") + l.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (column is not null) where += (where.Length > 0 ? ": " : "") + $"column '{column}'";
        return where.Length > 0 ? $"{where}: {detail}" : detail;
    }
}
