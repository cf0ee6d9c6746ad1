using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.PowerShell;

/// <summary>
/// What one cassa: drive holds open from New-PSDrive to Remove-PSDrive: the CQL session, the ZooKeeper session (zookeeper
/// lock mode), the lock provider, the mounted filesystem, the drive's root directory and the caller it acts as.
/// </summary>
public sealed class CassaDriveSession : IAsyncDisposable
{
    private CassaDriveSession(DriveParameters parameters, CqlSession session, ZooKeeperClient? zooKeeper, ILockProvider locks, CassaFileSystem? fileSystem, string root, Caller caller)
    {
        Parameters = parameters;
        Session = session;
        ZooKeeper = zooKeeper;
        Locks = locks;
        FileLocks = new FileLocks(locks);
        _fileSystem = fileSystem;
        Root = root;
        Caller = caller;
    }

    private readonly CassaFileSystem? _fileSystem;

    public DriveParameters Parameters { get; }
    public CqlSession Session { get; }
    public ZooKeeperClient? ZooKeeper { get; }
    public ILockProvider Locks { get; }

    /// <summary>The files' advisory locks (the ones a mount's flock takes too), on <see cref="Locks"/>.</summary>
    public FileLocks FileLocks { get; }

    /// <summary>The mounted filesystem (throws for a session opened only to format).</summary>
    public CassaFileSystem FileSystem => _fileSystem ?? throw new InvalidOperationException("This session was opened without a filesystem (to format); open it with mount: true.");

    /// <summary>The PowerShell drive this session serves ("cassa"), which items name in their FullName.</summary>
    public string DriveName { get; internal set; } = "cassa";

    /// <summary>This client's bakery participant index (bakery lock mode), else null.</summary>
    public int? BakeryParticipant => (Locks as BakeryLockProvider)?.Participant;

    /// <summary>The drive's root as an absolute filesystem path ("/" or a subdirectory such as "/projects").</summary>
    public string Root { get; }

    /// <summary>Who the filesystem calls are made as (the PowerShell process's uid/gid/groups).</summary>
    public Caller Caller { get; }

    /// <summary>
    /// Connects to Cassandra and (zookeeper lock mode) ZooKeeper, then mounts the keyspace's filesystem and checks that
    /// <paramref name="root"/> is a directory. Pass mount: false to only connect (Initialize-CassaFileSystem).
    /// </summary>
    /// <exception cref="CassaConnectionException">A server did not answer, refused the credentials, or the keyspace holds no filesystem; names which and what to check.</exception>
    /// <exception cref="FileSystemException">The root is missing or not a directory.</exception>
    public static async Task<CassaDriveSession> OpenAsync(DriveParameters parameters, string root = "/", bool mount = true, Caller? caller = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var options = new CqlSessionOptions
        {
            DefaultPort = parameters.Port,
            DefaultConsistency = parameters.Consistency,
            ConnectTimeout = parameters.ConnectTimeout,
        };
        foreach (var c in parameters.ContactPoints) options.ContactPoints.Add(c);
        if (parameters.UserName is not null) options.Credentials = new CqlCredentials(parameters.UserName, parameters.Password ?? "");
        var cassandra = $"{string.Join(",", parameters.ContactPoints)} (port {parameters.Port})";

        CqlSession session;
        try
        {
            session = await CqlSession.ConnectAsync(options, ct).ConfigureAwait(false);
        }
        catch (CqlAuthenticationException e)
        {
            throw new CassaConnectionException(cassandra, $"Cassandra at {cassandra} refused the credentials of user '{parameters.UserName}': {e.Message} Check -Credential.", e);
        }
        catch (CqlNoHostAvailableException e)
        {
            throw new CassaConnectionException(cassandra, $"Cassandra is unreachable at {cassandra}: {e.Message} Check that Cassandra runs there and answers CQL, and the drive's -ContactPoints and -Port.", e);
        }

        ZooKeeperClient? zk = null;
        try
        {
            ILockProvider locks;
            switch (parameters.LockMode)
            {
                case "zookeeper":
                    zk = await ConnectZooKeeperAsync(parameters, ct).ConfigureAwait(false);
                    locks = new ZooKeeperLockProvider(zk);
                    break;
                case "lwt":
                    await LwtLeaseLockProvider.EnsureSchemaAsync(session, parameters.Keyspace, ct).ConfigureAwait(false);
                    locks = new LwtLeaseLockProvider(session, parameters.Keyspace);
                    break;
                case "bakery":
                    locks = await BakeryLockProvider.ClaimAsync(session, parameters.Keyspace, parameters.BakeryParticipants, parameters.BakeryParticipant, ct).ConfigureAwait(false);
                    break;
                default:
                    locks = new LocalLockProvider();
                    break;
            }
            CassaFileSystem? fs = null;
            var normalizedRoot = ProviderPath.Normalize(root);
            var who = caller ?? ProcessIdentity.Current();
            if (mount)
            {
                try
                {
                    fs = await CassaFileSystem.MountAsync(session, new MountOptions
                    {
                        Keyspace = parameters.Keyspace,
                        Locks = locks,
                        Consistency = parameters.Consistency,
                        LockTimeout = parameters.LockTimeout,
                        ClientName = $"{Environment.MachineName}/{Environment.ProcessId} (PowerShell)",
                    }, ct).ConfigureAwait(false);
                }
                catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.EINVAL && e.Subject == parameters.Keyspace)
                {
                    await locks.DisposeAsync().ConfigureAwait(false);
                    throw new CassaConnectionException(parameters.Keyspace,
                        $"Keyspace '{parameters.Keyspace}' on Cassandra {cassandra} holds no usable CassaFS filesystem: {e.Message} Check -Keyspace, or create one with Initialize-CassaFileSystem.", e);
                }
                var rootInode = await fs.ResolveAsync(normalizedRoot, who, true, ct).ConfigureAwait(false);
                if (!rootInode.IsDirectory)
                {
                    await fs.DisposeAsync().ConfigureAwait(false);
                    await locks.DisposeAsync().ConfigureAwait(false);
                    throw new FileSystemException(Errno.ENOTDIR, normalizedRoot, "a drive's -Root must be a directory");
                }
            }
            return new CassaDriveSession(parameters, session, zk, locks, fs, normalizedRoot, who);
        }
        catch
        {
            if (zk is not null) await zk.DisposeAsync().ConfigureAwait(false);
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<ZooKeeperClient> ConnectZooKeeperAsync(DriveParameters parameters, CancellationToken ct)
    {
        var connectString = parameters.ZooKeeper;
        var zkOptions = new ZooKeeperClientOptions { ConnectTimeout = parameters.ConnectTimeout };
        try
        {
            var slash = connectString.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && slash < connectString.Length - 1)
            {
                // A chrooted session cannot create its own chroot, so make it from an unchrooted one first.
                await using var plain = await ZooKeeperClient.ConnectAsync(connectString[..slash], zkOptions, ct).ConfigureAwait(false);
                await plain.EnsurePathAsync(connectString[slash..], ct).ConfigureAwait(false);
            }
            return await ZooKeeperClient.ConnectAsync(connectString, zkOptions, ct).ConfigureAwait(false);
        }
        catch (ZooKeeperUnreachableException e)
        {
            throw new CassaConnectionException(connectString,
                $"ZooKeeper is unreachable at {connectString} (tried {string.Join(", ", e.ServersTried)}): {e.Message} Check that ZooKeeper runs there and the drive's -ZooKeeper, or use -LockMode lwt to lock through Cassandra.", e);
        }
    }

    /// <summary>
    /// Locks this drive's user took with Lock-CassaItem, by key: lock providers are not reentrant, so a Set-Content on a
    /// file the same session locked would otherwise wait for itself.
    /// </summary>
    internal System.Collections.Concurrent.ConcurrentDictionary<LockKey, ILockHandle> OwnLocks { get; } = new();

    /// <summary>Whether both sessions reach the same filesystem (same keyspace on the same cluster), so items can move between them.</summary>
    public bool SharesFileSystemWith(CassaDriveSession other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(this, other)) return true;
        var a = Parameters;
        var b = other.Parameters;
        return a.Keyspace == b.Keyspace && a.Port == b.Port &&
            a.ContactPoints.Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(b.ContactPoints.Order(StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>A drive-relative or absolute path as an absolute filesystem path under this drive's root.</summary>
    public string Resolve(string path) => ProviderPath.Combine(Root, path);

    public async ValueTask DisposeAsync()
    {
        if (_fileSystem is not null) await _fileSystem.DisposeAsync().ConfigureAwait(false);
        await Locks.DisposeAsync().ConfigureAwait(false);
        if (ZooKeeper is not null) await ZooKeeper.DisposeAsync().ConfigureAwait(false);
        await Session.DisposeAsync().ConfigureAwait(false);
    }
}
