namespace DebertaSharp;

/// <summary>
/// Thrown when a checkpoint file (safetensors, torch pickle, shard index) is malformed, truncated, inconsistent or
/// unsafe to load. The message names the file and, where one is involved, the tensor key.
/// </summary>
/// <remarks>
/// Derives from <see cref="IOException"/> because <see cref="InvalidDataException"/> is sealed; catch
/// <see cref="CheckpointFormatException"/> (or <see cref="IOException"/> for any problem reading a checkpoint).
/// </remarks>
public sealed class CheckpointFormatException : IOException
{
    /// <summary>Creates the exception with a complete message.</summary>
    /// <param name="message">The message.</param>
    public CheckpointFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a complete message and the error that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The underlying error.</param>
    public CheckpointFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a problem in <paramref name="filePath"/>, optionally at tensor <paramref name="key"/>.</summary>
    /// <param name="filePath">The checkpoint file that is at fault.</param>
    /// <param name="key">The tensor key (or pickle global, or index entry) at fault; null when the problem is file-wide.</param>
    /// <param name="detail">What is wrong.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public CheckpointFormatException(string filePath, string? key, string detail, Exception? innerException = null)
        : base(Format(filePath, key, detail), innerException)
    {
        FilePath = filePath;
        Key = key;
    }

    /// <summary>The checkpoint file at fault, when known.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor key (or pickle global, or index entry) at fault, when the problem concerns one.</summary>
    public string? Key { get; }

    private static string Format(string filePath, string? key, string detail) =>
        key is null
            ? $"Invalid checkpoint file '{filePath}': {detail}"
            : $"Invalid checkpoint file '{filePath}', tensor '{key}': {detail}";
}
