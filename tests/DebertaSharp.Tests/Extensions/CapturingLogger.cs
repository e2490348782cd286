using Microsoft.Extensions.Logging;

namespace DebertaSharp.Tests.Extensions;

/// <summary>An <see cref="ILogger"/> and <see cref="ILoggerFactory"/> that keep every entry (level, category, text).</summary>
internal sealed class CapturingLogger : ILogger, ILoggerFactory
{
    private readonly List<(LogLevel Level, string Category, string Message)> _entries = [];
    private string _category = "";

    public IReadOnlyList<(LogLevel Level, string Category, string Message)> Entries
    {
        get { lock (_entries) return [.. _entries]; }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, _category, formatter(state, exception)));
    }

    public ILogger CreateLogger(string categoryName)
    {
        _category = categoryName;
        return this;
    }

    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }
}
