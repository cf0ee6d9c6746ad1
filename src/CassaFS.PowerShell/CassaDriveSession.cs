using CassaFS.Client;
using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.PowerShell;

/// <summary>
/// What one cassa: drive holds open from New-PSDrive to Remove-PSDrive: the CQL session, the ZooKeeper session (zookeeper
/// lock mode), the lock provider, the mounted filesystem, the drive's root directory and the caller it acts as. The
/// sessions stay inside: the cmdlets get the filesystem, the locks, and formatting or destroying a keyspace.
/// </summary>
public sealed class CassaDriveSession : IAsyncDisposable
{
    private CassaDriveSession(DriveParameters parameters, FileSystemClient client, CassaFileSystem? fileSystem, string root, Caller caller)
    {
        Parameters = parameters;
        _client = client;
        FileLocks = new FileLocks(client.Locks);
        _fileSystem = fileSystem;
        Root = root;
        Caller = caller;
    }

    private readonly CassaFileSystem? _fileSystem;

    public DriveParameters Parameters { get; }
    private readonly FileSystemClient _client;

    /// <summary>The CQL session, for this assembly and its tests only (what it keeps as the session's default consistency, say).</summary>
    internal CqlSession Session => _client.Session;

    /// <summary>The ZooKeeper session (zookeeper lock mode), else null; for this assembly and its tests only.</summary>
    internal ZooKeeperClient? ZooKeeper => _client.ZooKeeper;

    public ILockProvider Locks => _client.Locks;

    /// <summary>The files' advisory locks (the ones a mount's flock takes too), on <see cref="Locks"/>.</summary>
    public FileLocks FileLocks { get; }

    /// <summary>The mounted filesystem (throws for a session opened only to format).</summary>
    public CassaFileSystem FileSystem => _fileSystem ?? throw new InvalidOperationException("This session was opened without a filesystem (to format); open it with openFileSystem: true.");

    /// <summary>The PowerShell drive this session serves ("cassa"), which items name in their FullName.</summary>
    public string DriveName { get; internal set; } = "cassa";

    /// <summary>This client's bakery participant index (bakery lock mode), else null.</summary>
    public int? BakeryParticipant => _client.BakeryParticipant;

    /// <summary>The drive's root as an absolute filesystem path ("/" or a subdirectory such as "/projects").</summary>
    public string Root { get; }

    /// <summary>Who the filesystem calls are made as (the PowerShell process's uid/gid/groups).</summary>
    public Caller Caller { get; }

    /// <summary>
    /// Connects to Cassandra and (zookeeper lock mode) ZooKeeper, then mounts the keyspace's filesystem and checks that
    /// <paramref name="root"/> is a directory. Pass openFileSystem: false to only connect (Initialize-CassaFileSystem).
    /// </summary>
    /// <exception cref="CassaConnectionException">A server did not answer, refused the credentials, or the keyspace holds no filesystem; names which and what to check.</exception>
    /// <exception cref="FileSystemException">The root is missing or not a directory.</exception>
    public static async Task<CassaDriveSession> OpenAsync(DriveParameters parameters, string root = "/", bool openFileSystem = true, Caller? caller = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        FileSystemClient client;
        try
        {
            client = await FileSystemClient.OpenAsync(parameters.Servers, ct: ct).ConfigureAwait(false);
        }
        catch (ServerConnectException e)
        {
            var advice = e switch
            {
                { Server: ServerKind.ZooKeeper } => "Check that ZooKeeper runs there and the drive's -ZooKeeper, or use -LockMode lwt to lock through Cassandra.",
                { CredentialsRefused: true } => "Check -Credential.",
                _ => "Check that Cassandra runs there and answers CQL, and the drive's -ContactPoints and -Port.",
            };
            throw new CassaConnectionException(e.Address, $"{e.Message} {advice}", e);
        }
        try
        {
            CassaFileSystem? fs = null;
            var normalizedRoot = ProviderPath.Normalize(root);
            var who = caller ?? ProcessIdentity.Current();
            if (openFileSystem)
            {
                try
                {
                    fs = await client.OpenFileSystemAsync(o => o with
                    {
                        LockTimeout = parameters.LockTimeout,
                        ClientName = $"{Environment.MachineName}/{Environment.ProcessId} (PowerShell)",
                    }, ct).ConfigureAwait(false);
                }
                catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.EINVAL && e.Subject == parameters.Servers.Keyspace)
                {
                    throw new CassaConnectionException(parameters.Servers.Keyspace,
                        $"Keyspace '{parameters.Servers.Keyspace}' on Cassandra {client.Settings.CassandraHosts} holds no usable CassaFS filesystem: {e.Message} Check -Keyspace, or create one with Initialize-CassaFileSystem.", e);
                }
                var rootInode = await fs.ResolveAsync(normalizedRoot, who, true, ct).ConfigureAwait(false);
                if (!rootInode.IsDirectory)
                {
                    await fs.DisposeAsync().ConfigureAwait(false);
                    throw new FileSystemException(Errno.ENOTDIR, normalizedRoot, "a drive's -Root must be a directory");
                }
            }
            return new CassaDriveSession(parameters, client, fs, normalizedRoot, who);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
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
        var a = Parameters.Servers;
        var b = other.Parameters.Servers;
        return a.Keyspace == b.Keyspace && a.Port == b.Port &&
            a.ContactPoints.Order(StringComparer.OrdinalIgnoreCase).SequenceEqual(b.ContactPoints.Order(StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Creates a filesystem in <see cref="FormatOptions.Keyspace"/> (Initialize-CassaFileSystem).</summary>
    internal Task FormatAsync(FormatOptions options, CancellationToken ct) => _client.FormatAsync(options, ct);

    /// <summary>Drops the drive's keyspace with every file in it (Remove-CassaFileSystem).</summary>
    internal Task DestroyAsync(CancellationToken ct) => _client.DestroyAsync(ct);

    /// <summary>A drive-relative or absolute path as an absolute filesystem path under this drive's root.</summary>
    public string Resolve(string path) => ProviderPath.Combine(Root, path);

    public async ValueTask DisposeAsync()
    {
        if (_fileSystem is not null) await _fileSystem.DisposeAsync().ConfigureAwait(false);
        await _client.DisposeAsync().ConfigureAwait(false);
    }
}
