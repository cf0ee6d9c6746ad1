using Microsoft.Extensions.Logging;

namespace CassaFS.Cli;

/// <summary>
/// The libraries log through <see cref="ILogger"/>; the CLI writes lines (to the daemon's log file, or stderr). This
/// turns each entry at or above <paramref name="minimum"/> into one line: its level and message, and its exception's.
/// </summary>
internal sealed class LineLogger(Action<string> write, LogLevel minimum = LogLevel.Information) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (!IsEnabled(logLevel)) return;
        var message = formatter(state, exception);
        write(exception is null ? $"{Level(logLevel)}: {message}" : $"{Level(logLevel)}: {message} ({exception.GetType().Name}: {exception.Message})");
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Critical => "critical",
        LogLevel.Error => "error",
        LogLevel.Warning => "warning",
        LogLevel.Information => "info",
        _ => "debug",
    };
}
