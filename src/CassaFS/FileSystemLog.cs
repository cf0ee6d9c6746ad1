using Microsoft.Extensions.Logging;

namespace CassaFS;

/// <summary>What the filesystem logs (through <see cref="FileSystemOptions.Logger"/>).</summary>
internal static partial class FileSystemLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Write}: outcome unknown ({Cause}: {Reason}); {Settled}")]
    public static partial void UncertainWrite(ILogger logger, string write, string cause, string reason, string settled);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} change notices could not be announced ({Reason}); other mounts see those changes when their cache times out")]
    public static partial void NoticesLost(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "removing {Inode}, which lost its last name, failed ({Reason}); fsck --repair removes what is left of it")]
    public static partial void BehindFailed(ILogger logger, Guid inode, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "reading other clients' change notices failed ({Reason}); trying again")]
    public static partial void NoticesUnread(ILogger logger, string reason);
}
