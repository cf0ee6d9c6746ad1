using Microsoft.Extensions.Logging;

namespace CassaFS.ZooKeeper;

/// <summary>What the client logs; credentials never appear here.</summary>
internal static partial class ClientLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "ZooKeeper session {Session} established with {Server}, timeout {TimeoutMs} ms")]
    public static partial void Established(ILogger logger, string session, string server, int timeoutMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "ZooKeeper session {Session} resumed on {Server}")]
    public static partial void Resumed(ILogger logger, string session, string server);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ZooKeeper session {Session}: {Server} did not take the session: {Reason}")]
    public static partial void ServerRefused(ILogger logger, string session, string server, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ZooKeeper session {Session}: connection to {Server} lost ({Reason}); trying the servers of the connect string")]
    public static partial void Suspended(ILogger logger, string session, string server, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ZooKeeper session {Session} lost: {Reason}")]
    public static partial void Lost(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ZooKeeper session {Session}: close not confirmed: {Reason}")]
    public static partial void CloseUnconfirmed(ILogger logger, string session, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A ZooKeeper watch or state callback threw; later events are still delivered")]
    public static partial void CallbackFailed(ILogger logger, Exception error);
}
