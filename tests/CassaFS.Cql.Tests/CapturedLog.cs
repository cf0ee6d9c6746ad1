using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace CassaFS.Cql.Tests;

/// <summary>An <see cref="ILogger"/> that keeps every message it is given, for tests to read.</summary>
public sealed class CapturedLog : ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public string Text => string.Join('\n', _lines);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        _lines.Enqueue($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : $" {exception}")}");
    }
}
