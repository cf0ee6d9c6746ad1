using System.Globalization;

namespace CassaFS.ZooKeeper;

/// <summary>A ZooKeeper operation failed; <see cref="Code"/> is the server's (or the client's) error code.</summary>
public class ZooKeeperException : Exception
{
    public ZooKeeperException(ErrorCode code, string? path, string message, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Path = path;
    }

    public ZooKeeperException() : this(ErrorCode.SystemError, null, "ZooKeeper operation failed.") { }

    public ZooKeeperException(string message) : this(ErrorCode.SystemError, null, message) { }

    public ZooKeeperException(string message, Exception inner) : this(ErrorCode.SystemError, null, message, inner) { }

    public ErrorCode Code { get; }

    /// <summary>The node the failing operation addressed (client path, chroot removed), when there is one.</summary>
    public string? Path { get; }

    /// <summary>For a failed transaction: every operation's result; the failing one carries its error code.</summary>
    public IReadOnlyList<OpResult>? MultiResults { get; internal set; }

    /// <summary>For a failed transaction: the index of the operation that failed.</summary>
    public int? FailedOperationIndex { get; internal set; }

    internal static ZooKeeperException For(ErrorCode code, string operation, string? path)
    {
        var where = path is null ? operation : $"{operation} {path}";
        return code switch
        {
            ErrorCode.NoNode => new NoNodeException(path, $"{where}: the node does not exist."),
            ErrorCode.NodeExists => new NodeExistsException(path, $"{where}: the node already exists."),
            ErrorCode.NotEmpty => new NotEmptyException(path, $"{where}: the node has children; delete them first."),
            ErrorCode.BadVersion => new BadVersionException(path, $"{where}: the node's version is not the one given; it changed since it was read. Read it again and retry."),
            ErrorCode.NoAuth => new NoAuthException(path, $"{where}: not authorized by the node's ACL. Add the credentials it requires (AddAuthAsync) on this session."),
            ErrorCode.InvalidAcl => new InvalidAclException(path, $"{where}: the ACL is invalid (an 'auth' ACL needs credentials added to the session first)."),
            ErrorCode.NoChildrenForEphemerals => new NoChildrenForEphemeralsException(path, $"{where}: ephemeral nodes cannot have children."),
            ErrorCode.AuthFailed => new AuthFailedException($"{where}: the server rejected the credentials."),
            ErrorCode.SessionExpired => new SessionExpiredException(0, $"{where}: the session has expired. Its ephemeral nodes and watches are gone; create a new client."),
            ErrorCode.ConnectionLoss => new ConnectionLossException(path, $"{where}: connection lost; the outcome is unknown.", null),
            _ => new ZooKeeperException(code, path, $"{where} failed: {code} ({((int)code).ToString(CultureInfo.InvariantCulture)})."),
        };
    }
}

/// <summary>The node does not exist.</summary>
public sealed class NoNodeException(string? path, string message) : ZooKeeperException(ErrorCode.NoNode, path, message);

/// <summary>A node with that path already exists.</summary>
public sealed class NodeExistsException(string? path, string message) : ZooKeeperException(ErrorCode.NodeExists, path, message);

/// <summary>The node has children, so it cannot be deleted.</summary>
public sealed class NotEmptyException(string? path, string message) : ZooKeeperException(ErrorCode.NotEmpty, path, message);

/// <summary>The node's version differs from the expected one.</summary>
public sealed class BadVersionException(string? path, string message) : ZooKeeperException(ErrorCode.BadVersion, path, message);

/// <summary>The node's ACL does not allow this session the operation.</summary>
public sealed class NoAuthException(string? path, string message) : ZooKeeperException(ErrorCode.NoAuth, path, message);

/// <summary>The ACL given is not valid.</summary>
public sealed class InvalidAclException(string? path, string message) : ZooKeeperException(ErrorCode.InvalidAcl, path, message);

/// <summary>An ephemeral node cannot have children.</summary>
public sealed class NoChildrenForEphemeralsException(string? path, string message) : ZooKeeperException(ErrorCode.NoChildrenForEphemerals, path, message);

/// <summary>The server rejected the credentials given to AddAuthAsync.</summary>
public sealed class AuthFailedException(string message) : ZooKeeperException(ErrorCode.AuthFailed, null, message);

/// <summary>
/// The session is gone: the server expired it (or it could not be resumed within its timeout). Its ephemeral
/// nodes are deleted (or will be) and its watches will not fire again; every later call on the client fails the same way.
/// </summary>
public sealed class SessionExpiredException(long sessionId, string message)
    : ZooKeeperException(ErrorCode.SessionExpired, null, message)
{
    public long SessionId { get; } = sessionId;
}

/// <summary>
/// The connection broke after the request was sent and before its reply arrived: the operation may or may not
/// have been applied. Read the state back (find your node by a unique name) or retry an idempotent operation.
/// </summary>
public sealed class ConnectionLossException(string? path, string message, Exception? inner)
    : ZooKeeperException(ErrorCode.ConnectionLoss, path, message, inner);

/// <summary>No server of the connect string could be reached to establish a session.</summary>
public sealed class ZooKeeperUnreachableException(IReadOnlyList<string> serversTried, string message, Exception? inner)
    : ZooKeeperException(ErrorCode.ConnectionLoss, null, message, inner)
{
    /// <summary>"host:port" of every server tried.</summary>
    public IReadOnlyList<string> ServersTried { get; } = serversTried;
}
