using System.Net;

namespace CassaFS.Cql;

/// <summary>Base of every error this client raises.</summary>
public abstract class CqlException : Exception
{
    protected CqlException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Error codes the server sends in an ERROR frame.</summary>
public enum CqlErrorCode
{
    ServerError = 0x0000,
    ProtocolError = 0x000A,
    BadCredentials = 0x0100,
    Unavailable = 0x1000,
    Overloaded = 0x1001,
    IsBootstrapping = 0x1002,
    TruncateError = 0x1003,
    WriteTimeout = 0x1100,
    ReadTimeout = 0x1200,
    ReadFailure = 0x1300,
    FunctionFailure = 0x1400,
    WriteFailure = 0x1500,
    SyntaxError = 0x2000,
    Unauthorized = 0x2100,
    Invalid = 0x2200,
    ConfigError = 0x2300,
    AlreadyExists = 0x2400,
    Unprepared = 0x2500,
}

/// <summary>An error the server answered with; <see cref="Host"/> is the coordinator that sent it.</summary>
public class CqlServerException : CqlException
{
    public CqlServerException(CqlErrorCode code, string message, string? host = null)
        : base(host is null ? message : $"{message} (from {host})")
    {
        Code = code;
        ServerMessage = message;
        Host = host;
    }

    public CqlErrorCode Code { get; }
    public string ServerMessage { get; }
    public string? Host { get; }
}

/// <summary>The server reported a bug or an internal failure (code 0x0000).</summary>
public sealed class CqlInternalServerException(string message, string? host) : CqlServerException(CqlErrorCode.ServerError, message, host);

/// <summary>The server rejected a frame as malformed, or this client could not parse the server's answer.</summary>
public sealed class CqlProtocolException(string message, string? host = null) : CqlServerException(CqlErrorCode.ProtocolError, message, host);

/// <summary>Login failed: wrong user name or password (code 0x0100), or the server wants credentials none were given.</summary>
public sealed class CqlAuthenticationException(string message, string? host) : CqlServerException(CqlErrorCode.BadCredentials, message, host);

/// <summary>Not enough replicas alive to even try the request at its consistency; nothing was applied.</summary>
public sealed class CqlUnavailableException(string message, string? host, Consistency consistency, int required, int alive)
    : CqlServerException(CqlErrorCode.Unavailable, $"{message} [consistency {consistency}: {required} replicas required, {alive} alive]", host)
{
    public Consistency Consistency { get; } = consistency;
    public int Required { get; } = required;
    public int Alive { get; } = alive;
}

/// <summary>The coordinator is overloaded; the request was not processed and may be sent elsewhere.</summary>
public sealed class CqlOverloadedException(string message, string? host) : CqlServerException(CqlErrorCode.Overloaded, message, host);

/// <summary>The coordinator is still bootstrapping; the request was not processed and may be sent elsewhere.</summary>
public sealed class CqlBootstrappingException(string message, string? host) : CqlServerException(CqlErrorCode.IsBootstrapping, message, host);

/// <summary>A TRUNCATE failed on some replica.</summary>
public sealed class CqlTruncateException(string message, string? host) : CqlServerException(CqlErrorCode.TruncateError, message, host);

/// <summary>Replicas did not acknowledge a write in time; the write may still be applied on some of them.</summary>
public sealed class CqlWriteTimeoutException(string message, string? host, Consistency consistency, int received, int blockFor, string writeType)
    : CqlServerException(CqlErrorCode.WriteTimeout, $"{message} [consistency {consistency}: {received} of {blockFor} acknowledged, write type {writeType}; the outcome is unknown]", host)
{
    public Consistency Consistency { get; } = consistency;
    public int Received { get; } = received;
    public int BlockFor { get; } = blockFor;
    /// <summary>SIMPLE, BATCH, UNLOGGED_BATCH, COUNTER, BATCH_LOG, CAS (the last one: an LWT whose Paxos round timed out).</summary>
    public string WriteType { get; } = writeType;
}

/// <summary>Replicas did not answer a read in time.</summary>
public sealed class CqlReadTimeoutException(string message, string? host, Consistency consistency, int received, int blockFor, bool dataPresent)
    : CqlServerException(CqlErrorCode.ReadTimeout, $"{message} [consistency {consistency}: {received} of {blockFor} responded, data present: {dataPresent}]", host)
{
    public Consistency Consistency { get; } = consistency;
    public int Received { get; } = received;
    public int BlockFor { get; } = blockFor;
    public bool DataPresent { get; } = dataPresent;
}

/// <summary>A replica failed a read or write (protocol v4 and later); <see cref="Failures"/> replicas failed.</summary>
public sealed class CqlReplicaFailureException(CqlErrorCode code, string message, string? host, Consistency consistency, int received, int blockFor, int failures)
    : CqlServerException(code, $"{message} [consistency {consistency}: {received} of {blockFor} succeeded, {failures} failed]", host)
{
    public Consistency Consistency { get; } = consistency;
    public int Received { get; } = received;
    public int BlockFor { get; } = blockFor;
    public int Failures { get; } = failures;
}

/// <summary>The statement is not valid CQL; fix the statement text.</summary>
public sealed class CqlSyntaxException(string message, string? host) : CqlServerException(CqlErrorCode.SyntaxError, message, host);

/// <summary>The logged-in user lacks the permission the statement needs.</summary>
public sealed class CqlUnauthorizedException(string message, string? host) : CqlServerException(CqlErrorCode.Unauthorized, message, host);

/// <summary>The statement is syntactically valid but invalid (unknown table, wrong value type, ...).</summary>
public sealed class CqlInvalidQueryException(string message, string? host) : CqlServerException(CqlErrorCode.Invalid, message, host);

/// <summary>The statement conflicts with the server's configuration.</summary>
public sealed class CqlConfigurationException(string message, string? host) : CqlServerException(CqlErrorCode.ConfigError, message, host);

/// <summary>CREATE of a keyspace or table that exists; <see cref="Table"/> is empty for a keyspace.</summary>
public sealed class CqlAlreadyExistsException(string message, string? host, string keyspace, string table)
    : CqlServerException(CqlErrorCode.AlreadyExists, message, host)
{
    public string Keyspace { get; } = keyspace;
    public string Table { get; } = table;
}

/// <summary>The coordinator does not know a prepared statement id (the session re-prepares and retries by itself).</summary>
public sealed class CqlUnpreparedException(string message, string? host, byte[] statementId)
    : CqlServerException(CqlErrorCode.Unprepared, message, host)
{
    public byte[] StatementId { get; } = statementId;
}

/// <summary>
/// No answer within the request timeout. The request may still have been applied (or be applied later):
/// the outcome is unknown, never assume it failed. Read back, or retry only if the statement is idempotent.
/// </summary>
public sealed class CqlClientTimeoutException(string host, TimeSpan timeout)
    : CqlException($"no answer from {host} within {timeout.TotalMilliseconds:0} ms; the request may still have been applied (outcome unknown)")
{
    public string Host { get; } = host;
    public TimeSpan Timeout { get; } = timeout;
}

/// <summary>
/// The connection to a host failed or closed. When <see cref="MayHaveBeenApplied"/> is true the request had been
/// sent: its outcome is unknown.
/// </summary>
public sealed class CqlConnectionException(string host, string message, bool mayHaveBeenApplied, Exception? inner = null)
    : CqlException($"connection to {host}: {message}" + (mayHaveBeenApplied ? "; the request had been sent and may have been applied (outcome unknown)" : ""), inner)
{
    public string Host { get; } = host;
    public bool MayHaveBeenApplied { get; } = mayHaveBeenApplied;
}

/// <summary>Every host the request could go to failed; <see cref="Errors"/> says what happened with each.</summary>
public sealed class CqlNoHostAvailableException : CqlException
{
    public CqlNoHostAvailableException(IReadOnlyDictionary<string, Exception> errors)
        : base(Describe(errors), errors.Values.LastOrDefault())
    {
        Errors = errors;
    }

    public IReadOnlyDictionary<string, Exception> Errors { get; }

    private static string Describe(IReadOnlyDictionary<string, Exception> errors) =>
        errors.Count == 0
            ? "no Cassandra host available: no contact point configured"
            : $"no Cassandra host available; tried {string.Join(", ", errors.Keys)}: " +
              string.Join("; ", errors.Select(e => $"{e.Key}: {e.Value.Message}")) +
              ". Check that the servers run and the contact points are right.";
}

internal static class ErrorFrame
{
    public static CqlServerException Parse(ref Protocol.FrameReader r, string host)
    {
        var code = (CqlErrorCode)r.ReadInt();
        var message = r.ReadString();
        return code switch
        {
            CqlErrorCode.ServerError => new CqlInternalServerException(message, host),
            CqlErrorCode.ProtocolError => new CqlProtocolException(message, host),
            CqlErrorCode.BadCredentials => new CqlAuthenticationException(message, host),
            CqlErrorCode.Unavailable => new CqlUnavailableException(message, host, (Consistency)r.ReadShort(), r.ReadInt(), r.ReadInt()),
            CqlErrorCode.Overloaded => new CqlOverloadedException(message, host),
            CqlErrorCode.IsBootstrapping => new CqlBootstrappingException(message, host),
            CqlErrorCode.TruncateError => new CqlTruncateException(message, host),
            CqlErrorCode.WriteTimeout => new CqlWriteTimeoutException(message, host, (Consistency)r.ReadShort(), r.ReadInt(), r.ReadInt(), r.ReadString()),
            CqlErrorCode.ReadTimeout => new CqlReadTimeoutException(message, host, (Consistency)r.ReadShort(), r.ReadInt(), r.ReadInt(), r.ReadByte() != 0),
            CqlErrorCode.ReadFailure => new CqlReplicaFailureException(code, message, host, (Consistency)r.ReadShort(), r.ReadInt(), r.ReadInt(), r.ReadInt()),
            CqlErrorCode.WriteFailure => new CqlReplicaFailureException(code, message, host, (Consistency)r.ReadShort(), r.ReadInt(), r.ReadInt(), r.ReadInt()),
            CqlErrorCode.SyntaxError => new CqlSyntaxException(message, host),
            CqlErrorCode.Unauthorized => new CqlUnauthorizedException(message, host),
            CqlErrorCode.Invalid => new CqlInvalidQueryException(message, host),
            CqlErrorCode.ConfigError => new CqlConfigurationException(message, host),
            CqlErrorCode.AlreadyExists => new CqlAlreadyExistsException(message, host, r.ReadString(), r.ReadString()),
            CqlErrorCode.Unprepared => new CqlUnpreparedException(message, host, r.ReadShortBytes()),
            _ => new CqlServerException(code, message, host),
        };
    }
}
