using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.Cli;

/// <summary>An open connection to a filesystem's servers: the CQL session, the ZooKeeper session (zookeeper lock mode) and the lock provider.</summary>
public sealed class ServerConnection : IAsyncDisposable
{
    private ServerConnection(ConnectionSettings settings, CqlSession session, ZooKeeperClient? zooKeeper, ILockProvider locks)
    {
        Settings = settings;
        Session = session;
        ZooKeeper = zooKeeper;
        Locks = locks;
    }

    public ConnectionSettings Settings { get; }
    public CqlSession Session { get; }
    public ZooKeeperClient? ZooKeeper { get; }
    public ILockProvider Locks { get; }

    /// <summary>Connects to Cassandra and, unless the lock mode needs no ZooKeeper, to ZooKeeper (creating its chroot if missing).</summary>
    /// <exception cref="ServersUnreachableException">A server did not answer; says which hosts were tried and what to check.</exception>
    public static async Task<ServerConnection> OpenAsync(ConnectionSettings settings, bool needLocks = true, Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        CqlSession session;
        var options = settings.ToSessionOptions();
        if (log is not null)
        {
            options.HostStateChanged = h => log(h.IsUp
                ? $"Cassandra node {h.Endpoint} is back: requests go to it again"
                : $"Cassandra node {h.Endpoint} is down (its connection dropped): requests go to the other nodes; without a quorum of replicas, operations fail with EIO after the mount's timeout");
            options.AvailabilityChanged = a => log(a.IsAvailable
                ? $"Cassandra serves {a.Consistency} again: a quorum of replicas is back"
                : $"Cassandra quorum lost: {a.Consistency} needs {a.Required} replicas and {a.Alive} are alive; operations fail with EIO until nodes come back");
        }
        try
        {
            session = await CqlSession.ConnectAsync(options, ct).ConfigureAwait(false);
        }
        catch (CqlNoHostAvailableException e)
        {
            throw new ServersUnreachableException(
                $"Cassandra is unreachable at {settings.CassandraHosts}: {e.Message} Check that Cassandra runs there, or set --contact-points/--port " +
                "(environment CASSAFS_CONTACT_POINTS, config file contactPoints).", e);
        }
        ZooKeeperClient? zk = null;
        try
        {
            ILockProvider locks;
            switch (needLocks ? settings.LockMode : "local")
            {
                case "zookeeper":
                    zk = await ConnectZooKeeperAsync(settings.ZooKeeper, ct).ConfigureAwait(false);
                    locks = new ZooKeeperLockProvider(zk);
                    break;
                case "lwt":
                    await LwtLeaseLockProvider.EnsureSchemaAsync(session, settings.Keyspace, ct).ConfigureAwait(false);
                    locks = new LwtLeaseLockProvider(session, settings.Keyspace);
                    break;
                case "bakery":
                    // An index given in CASSAFS_BAKERY_PARTICIPANT is reserved as asked; without one a free index is claimed.
                    int? participant = int.TryParse(Environment.GetEnvironmentVariable("CASSAFS_BAKERY_PARTICIPANT"), out var p) ? p : null;
                    var participants = int.TryParse(Environment.GetEnvironmentVariable("CASSAFS_BAKERY_PARTICIPANTS"), out var n) ? n : 8;
                    locks = await BakeryLockProvider.ClaimAsync(session, settings.Keyspace, participants, participant, ct).ConfigureAwait(false);
                    break;
                default:
                    locks = new LocalLockProvider();
                    break;
            }
            return new ServerConnection(settings, session, zk, locks);
        }
        catch
        {
            if (zk is not null) await zk.DisposeAsync().ConfigureAwait(false);
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<ZooKeeperClient> ConnectZooKeeperAsync(string connectString, CancellationToken ct)
    {
        try
        {
            var slash = connectString.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && slash < connectString.Length - 1)
            {
                // The chroot must exist before a chrooted session can create anything under it.
                await using var root = await ZooKeeperClient.ConnectAsync(connectString[..slash], ct: ct).ConfigureAwait(false);
                await root.EnsurePathAsync(connectString[slash..], ct).ConfigureAwait(false);
            }
            return await ZooKeeperClient.ConnectAsync(connectString, ct: ct).ConfigureAwait(false);
        }
        catch (ZooKeeperUnreachableException e)
        {
            throw new ServersUnreachableException(
                $"ZooKeeper is unreachable at {connectString} (tried {string.Join(", ", e.ServersTried)}): {e.Message} Check that ZooKeeper runs there, " +
                "set --zookeeper (CASSAFS_ZOOKEEPER), or use --lock-mode lwt to lock through Cassandra instead.", e);
        }
    }

    /// <summary>Mounts the filesystem (the library's mount, not the kernel's) in the configured keyspace.</summary>
    /// <param name="readOnly">Refuse every change (EROFS).</param>
    /// <param name="log">Told how each write with an unknown outcome (a timeout) was settled.</param>
    /// <param name="ct">Cancels the mount.</param>
    public Task<CassaFileSystem> OpenFileSystemAsync(bool readOnly = false, Action<string>? log = null, CancellationToken ct = default) =>
        CassaFileSystem.MountAsync(Session, new MountOptions
        {
            Keyspace = Settings.Keyspace,
            Locks = Locks,
            Consistency = Settings.Consistency,
            ReadOnly = readOnly,
            OnUncertainWrite = log,
        }, ct);

    public async ValueTask DisposeAsync()
    {
        await Locks.DisposeAsync().ConfigureAwait(false);
        if (ZooKeeper is not null) await ZooKeeper.DisposeAsync().ConfigureAwait(false);
        await Session.DisposeAsync().ConfigureAwait(false);
    }
}
