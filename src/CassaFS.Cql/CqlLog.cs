using Microsoft.Extensions.Logging;

namespace CassaFS.Cql;

/// <summary>What the CQL client logs (through <see cref="CqlSessionOptions.Logger"/>); credentials never appear here, only a user name.</summary>
internal static partial class CqlLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL connection to {Host} open (protocol v{Version})")]
    public static partial void ConnectionOpened(ILogger logger, string host, int version);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL host {Host} refused protocol v{Version}; trying v{Next}")]
    public static partial void ProtocolRefused(ILogger logger, string host, int version, int next);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL host {Host} asks for a login ({Authenticator}); logging in as {UserName}")]
    public static partial void LoggingIn(ILogger logger, string host, string userName, string authenticator);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CQL connection to {Host} closed: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string host, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CQL host {Host} did not answer a heartbeat within {TimeoutMs} ms; closing the connection")]
    public static partial void HeartbeatUnanswered(ILogger logger, string host, double timeoutMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL request to {Host} got no answer within {TimeoutMs} ms; its stream stays reserved until the late reply")]
    public static partial void RequestTimedOut(ILogger logger, string host, double timeoutMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CQL host {Host} is down; reconnecting in the background")]
    public static partial void HostDown(ILogger logger, string host);

    [LoggerMessage(Level = LogLevel.Information, Message = "CQL host {Host} is up")]
    public static partial void HostUp(ILogger logger, string host);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL host {Host}: reconnecting failed ({Reason}); next try in {DelayMs} ms")]
    public static partial void ReconnectFailed(ILogger logger, string host, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "CQL peer {Peer} discovered through {Contact}")]
    public static partial void PeerDiscovered(ILogger logger, string peer, string contact);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CQL nodes still report {Versions} schema versions after {TimeoutMs} ms")]
    public static partial void SchemaDisagreement(ILogger logger, int versions, double timeoutMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CQL cluster unavailable at {Consistency}: {Required} replicas required, {Alive} alive")]
    public static partial void Unavailable(ILogger logger, Consistency consistency, int required, int alive);

    [LoggerMessage(Level = LogLevel.Information, Message = "CQL cluster available again at {Consistency}")]
    public static partial void AvailableAgain(ILogger logger, Consistency consistency);

    [LoggerMessage(Level = LogLevel.Error, Message = "A CQL host state or availability callback threw; routing goes on")]
    public static partial void CallbackFailed(ILogger logger, Exception error);
}
