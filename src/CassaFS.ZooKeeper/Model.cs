using System.Security.Cryptography;
using System.Text;

namespace CassaFS.ZooKeeper;

/// <summary>A znode's metadata as the server reports it; zxids order every change in the ensemble.</summary>
/// <param name="CreatedZxid">The transaction that created the node (czxid); unique and increasing, usable as a fencing token.</param>
/// <param name="ModifiedZxid">The transaction that last changed the node's data (mzxid).</param>
/// <param name="CreatedTimeMs">Creation time, milliseconds since the Unix epoch, as the leader's clock saw it.</param>
/// <param name="ModifiedTimeMs">Last modification time, milliseconds since the Unix epoch.</param>
/// <param name="Version">Data version, the argument of conditional setData and delete.</param>
/// <param name="ChildrenVersion">Number of changes to the children (cversion).</param>
/// <param name="AclVersion">Number of changes to the ACL (aversion).</param>
/// <param name="EphemeralOwner">Session id owning an ephemeral node; 0 for a persistent node.</param>
/// <param name="DataLength">Length of the data in bytes.</param>
/// <param name="ChildrenCount">Number of children.</param>
/// <param name="ChildrenZxid">The transaction that last changed the children (pzxid).</param>
public sealed record Stat(
    long CreatedZxid, long ModifiedZxid, long CreatedTimeMs, long ModifiedTimeMs, int Version, int ChildrenVersion,
    int AclVersion, long EphemeralOwner, int DataLength, int ChildrenCount, long ChildrenZxid)
{
    public DateTimeOffset CreatedTime => DateTimeOffset.FromUnixTimeMilliseconds(CreatedTimeMs);
    public DateTimeOffset ModifiedTime => DateTimeOffset.FromUnixTimeMilliseconds(ModifiedTimeMs);
    public bool IsEphemeral => EphemeralOwner != 0;
}

/// <summary>What an ACL entry allows (ZooDefs.Perms).</summary>
[Flags]
public enum Permissions
{
    None = 0,
    Read = 1,
    Write = 2,
    Create = 4,
    Delete = 8,
    Admin = 16,
    All = Read | Write | Create | Delete | Admin,
}

/// <summary>One ACL entry: the permissions granted to an identity (scheme "world", "auth", "digest", "ip", ...).</summary>
public sealed record Acl(Permissions Permissions, string Scheme, string Id)
{
    /// <summary>Anyone may do anything (world:anyone, all permissions).</summary>
    public static IReadOnlyList<Acl> OpenUnsafe { get; } = new[] { new Acl(Permissions.All, "world", "anyone") };

    /// <summary>Anyone may read.</summary>
    public static IReadOnlyList<Acl> ReadUnsafe { get; } = new[] { new Acl(Permissions.Read, "world", "anyone") };

    /// <summary>All permissions to whoever authenticated on this session when the node is created (scheme "auth").</summary>
    public static IReadOnlyList<Acl> CreatorAll { get; } = new[] { new Acl(Permissions.All, "auth", string.Empty) };

    /// <summary>
    /// A digest ACL entry for <paramref name="user"/>; a session holds it after
    /// <c>AddAuthAsync("digest", "user:password")</c>. The id is user:base64(sha1("user:password")).
    /// </summary>
    public static Acl Digest(string user, string password, Permissions permissions)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
#pragma warning disable CA5350 // SHA-1 is what ZooKeeper's digest scheme is defined with.
        var hash = SHA1.HashData(Encoding.UTF8.GetBytes($"{user}:{password}"));
#pragma warning restore CA5350
        return new Acl(permissions, "digest", $"{user}:{Convert.ToBase64String(hash)}");
    }
}

/// <summary>How a node is created: ephemeral nodes die with the session, sequential ones get a 10-digit counter suffix.</summary>
public enum CreateMode
{
    Persistent = 0,
    Ephemeral = 1,
    PersistentSequential = 2,
    EphemeralSequential = 3,
}

/// <summary>What happened to a watched node (Watcher.Event.EventType).</summary>
public enum WatchEventType
{
    /// <summary>No node changed: the session's state did (see <see cref="WatchedEvent.State"/>).</summary>
    None = -1,
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// <summary>The session state a watch event was produced in (Watcher.Event.KeeperState).</summary>
public enum KeeperState
{
    Disconnected = 0,
    SyncConnected = 3,
    AuthFailed = 4,
    ConnectedReadOnly = 5,
    Expired = -112,
    Closed = 7,
}

/// <summary>
/// A one-shot watch firing. A watch set by this client fires at most once; on session loss or close every
/// outstanding watch fires with <see cref="WatchEventType.None"/> and state Expired or Closed, so a waiter never hangs.
/// </summary>
public sealed record WatchedEvent(WatchEventType Type, KeeperState State, string? Path);

/// <summary>The connection and session states a lock recipe acts on.</summary>
public enum ConnectionState
{
    /// <summary>The first connection of the session is established.</summary>
    Connected,
    /// <summary>Disconnected: the session may still live on the server; its ephemeral nodes may still exist. Pause, do not assume.</summary>
    Suspended,
    /// <summary>Connected again within the same session: ephemeral nodes and watches are intact.</summary>
    Reconnected,
    /// <summary>The session has expired (or could not be resumed in time): its ephemeral nodes are gone or going; every later call fails with SessionExpired.</summary>
    Lost,
    /// <summary>The client was closed by its owner.</summary>
    Closed,
}

/// <summary>Data of <see cref="ZooKeeperClient.StateChanged"/>.</summary>
public sealed class ConnectionStateChangedEventArgs(ConnectionState state, long sessionId, string? server) : EventArgs
{
    public ConnectionState State { get; } = state;
    public long SessionId { get; } = sessionId;
    /// <summary>"host:port" of the server now connected, or null when not connected.</summary>
    public string? Server { get; } = server;
}
