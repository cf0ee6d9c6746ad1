using Microsoft.Extensions.Logging;

namespace CassaFS;

/// <summary>What the filesystem logs (through <see cref="FileSystemOptions.Logger"/>).</summary>
internal static partial class FileSystemLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Write}: outcome unknown ({Cause}: {Reason}); {Settled}")]
    public static partial void UncertainWrite(ILogger logger, string write, string cause, string reason, string settled);
}
