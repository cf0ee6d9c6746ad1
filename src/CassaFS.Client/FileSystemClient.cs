using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.Client;

/// <summary>Which server a connection failed on.</summary>
public enum ServerKind
{
    Cassandra,
    ZooKeeper,
}

/// <summary>A server did not answer, or refused the credentials. The faces add their own advice (which option to set).</summary>
public sealed class ServerConnectException(ServerKind server, string address, bool credentialsRefused, string message, Exception inner) : Exception(message, inner)
{
    public ServerKind Server { get; } = server;

    /// <summary>The address as the user gave it ("h1,h2 (port 9042)", "zk:2181/cassafs").</summary>
    public string Address { get; } = address;

    /// <summary>Cassandra answered but refused the user name or password.</summary>
    public bool CredentialsRefused { get; } = credentialsRefused;
}

/// <summary>What a client hears of its servers while it runs (the mount daemon logs it).</summary>
public sealed record ClientEvents
{
    /// <summary>A Cassandra node's connection dropped or came back.</summary>
    public Action<CqlHostState>? HostStateChanged { get; init; }

    /// <summary>A consistency level stopped or started being served (a quorum lost or back).</summary>
    public Action<CqlAvailability>? AvailabilityChanged { get; init; }
}

/// <summary>
/// One way to reach a filesystem for every face: the CQL session, the ZooKeeper session (zookeeper lock mode, its
/// chroot made when missing) and the lock provider the settings choose; then <see cref="OpenFileSystemAsync"/>.
/// Consistency has one owner: the session keeps the driver's default, the filesystem gets the settings' level, and
/// each lock service chooses its own.
/// </summary>
public sealed class FileSystemClient : IAsyncDisposable
{
    private FileSystemClient(ClientSettings settings, CqlSession session, ZooKeeperClient? zooKeeper, ILockProvider locks)
    {
        Settings = settings;
        Session = session;
        ZooKeeper = zooKeeper;
        Locks = locks;
        if (zooKeeper is not null) AppDomain.CurrentDomain.ProcessExit += CloseSessionAtExit;
    }

    /// <summary>
    /// A process that ends without closing its client (a pwsh script that never removes its drive) would leave its
    /// ZooKeeper session, and every lock in it, to expire a session timeout later (10 s), holding up whoever waits for
    /// them: the directory locks this client keeps between operations above all. Closing the session ends them at once;
    /// the process can change nothing after this anyway.
    /// </summary>
    private void CloseSessionAtExit(object? sender, EventArgs e) =>
        ZooKeeper?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(2));

    public ClientSettings Settings { get; }
    public CqlSession Session { get; }

    /// <summary>The ZooKeeper session (zookeeper lock mode), else null.</summary>
    public ZooKeeperClient? ZooKeeper { get; }

    public ILockProvider Locks { get; }

    /// <summary>This client's bakery participant index (bakery lock mode), else null.</summary>
    public int? BakeryParticipant => (Locks as BakeryLockProvider)?.Participant;

    /// <summary>Connects to Cassandra and the lock service; <paramref name="needLocks"/> false takes in-process locks (format, destroy).</summary>
    /// <exception cref="ServerConnectException">A server did not answer or refused the credentials.</exception>
    public static async Task<FileSystemClient> OpenAsync(ClientSettings settings, ClientEvents? events = null, bool needLocks = true, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var options = new CqlSessionOptions
        {
            DefaultPort = settings.Port,
            ConnectTimeout = settings.ConnectTimeout,
            HostStateChanged = events?.HostStateChanged,
            AvailabilityChanged = events?.AvailabilityChanged,
        };
        foreach (var c in settings.ContactPoints) options.ContactPoints.Add(c);
        if (settings.UserName is not null) options.Credentials = new CqlCredentials(settings.UserName, settings.Password ?? "");

        CqlSession session;
        try
        {
            session = await CqlSession.ConnectAsync(options, ct).ConfigureAwait(false);
        }
        catch (CqlAuthenticationException e)
        {
            throw new ServerConnectException(ServerKind.Cassandra, settings.CassandraHosts, true,
                $"Cassandra at {settings.CassandraHosts} refused the credentials of user '{settings.UserName}': {e.Message}", e);
        }
        catch (CqlNoHostAvailableException e)
        {
            throw new ServerConnectException(ServerKind.Cassandra, settings.CassandraHosts, false,
                $"Cassandra is unreachable at {settings.CassandraHosts}: {e.Message}", e);
        }
        ZooKeeperClient? zk = null;
        try
        {
            ILockProvider locks;
            switch (needLocks ? settings.LockMode : LockMode.Local)
            {
                case LockMode.ZooKeeper:
                    zk = await ConnectZooKeeperAsync(settings, ct).ConfigureAwait(false);
                    locks = new ZooKeeperLockProvider(zk);
                    break;
                case LockMode.Lwt:
                    await LwtLeaseLockProvider.EnsureSchemaAsync(session, settings.Keyspace, ct).ConfigureAwait(false);
                    locks = new LwtLeaseLockProvider(session, settings.Keyspace, new LwtLeaseOptions { Consistency = settings.LockConsistency });
                    break;
                case LockMode.Bakery:
                    locks = await BakeryLockProvider.ClaimAsync(session, settings.Keyspace, settings.BakeryParticipants, settings.BakeryParticipant, settings.LockConsistency, ct).ConfigureAwait(false);
                    break;
                default:
                    locks = new LocalLockProvider();
                    break;
            }
            return new FileSystemClient(settings, session, zk, locks);
        }
        catch
        {
            if (zk is not null) await zk.DisposeAsync().ConfigureAwait(false);
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<ZooKeeperClient> ConnectZooKeeperAsync(ClientSettings settings, CancellationToken ct)
    {
        var connectString = settings.ZooKeeper;
        var options = new ZooKeeperClientOptions { ConnectTimeout = settings.ConnectTimeout };
        try
        {
            var slash = connectString.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && slash < connectString.Length - 1)
            {
                // A chrooted session cannot create its own chroot, so make it from an unchrooted one first.
                await using var plain = await ZooKeeperClient.ConnectAsync(connectString[..slash], options, ct).ConfigureAwait(false);
                await plain.EnsurePathAsync(connectString[slash..], ct).ConfigureAwait(false);
            }
            return await ZooKeeperClient.ConnectAsync(connectString, options, ct).ConfigureAwait(false);
        }
        catch (ZooKeeperUnreachableException e)
        {
            throw new ServerConnectException(ServerKind.ZooKeeper, connectString, false,
                $"ZooKeeper is unreachable at {connectString} (tried {string.Join(", ", e.ServersTried)}): {e.Message}", e);
        }
    }

    /// <summary>Opens the keyspace's filesystem with this client's locks and the settings' consistency; <paramref name="configure"/> sets the rest (read-only, timeouts, logging).</summary>
    public Task<CassaFileSystem> OpenFileSystemAsync(Func<FileSystemOptions, FileSystemOptions>? configure = null, CancellationToken ct = default)
    {
        var options = new FileSystemOptions { Keyspace = Settings.Keyspace, Locks = Locks, Consistency = Settings.Consistency };
        return CassaFileSystem.OpenAsync(Session, configure is null ? options : configure(options), ct);
    }

    /// <summary>Makes a new filesystem (cassafs format), written at the settings' consistency.</summary>
    public Task FormatAsync(FormatOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Schema.FormatAsync(Session, options with { Consistency = Settings.Consistency }, ct);
    }

    /// <summary>Drops the settings' keyspace, refusing one that holds no CassaFS filesystem (cassafs destroy).</summary>
    public Task DestroyAsync(CancellationToken ct = default) => Schema.DestroyAsync(Session, Settings.Keyspace, Settings.Consistency, ct);

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= CloseSessionAtExit;
        await Locks.DisposeAsync().ConfigureAwait(false);
        if (ZooKeeper is not null) await ZooKeeper.DisposeAsync().ConfigureAwait(false);
        await Session.DisposeAsync().ConfigureAwait(false);
    }
}
