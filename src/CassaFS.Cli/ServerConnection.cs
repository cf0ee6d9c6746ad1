using CassaFS.Client;
using CassaFS.Locks;

namespace CassaFS.Cli;

/// <summary>
/// The CLI's connection to a filesystem's servers: <see cref="FileSystemClient"/> with the CLI's wording of failures and
/// of server events. Its commands get what they do with the servers (format, destroy, the locks, the filesystem), not
/// the sessions themselves.
/// </summary>
public sealed class ServerConnection : IAsyncDisposable
{
    private readonly FileSystemClient _client;

    private ServerConnection(FileSystemClient client) => _client = client;

    public ClientSettings Settings => _client.Settings;
    public ILockProvider Locks => _client.Locks;

    /// <summary>Connects to Cassandra and, unless the lock mode needs no ZooKeeper, to ZooKeeper (creating its chroot if missing).</summary>
    /// <exception cref="ServersUnreachableException">A server did not answer; says which hosts were tried and what to check.</exception>
    public static async Task<ServerConnection> OpenAsync(ClientSettings settings, bool needLocks = true, Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var events = log is null ? null : new ClientEvents
        {
            HostStateChanged = h => log(h.IsUp
                ? $"Cassandra node {h.Endpoint} is back: requests go to it again"
                : $"Cassandra node {h.Endpoint} is down (its connection dropped): requests go to the other nodes; without a quorum of replicas, operations fail with EIO after the mount's timeout"),
            AvailabilityChanged = a => log(a.IsAvailable
                ? $"Cassandra serves {a.Consistency} again: a quorum of replicas is back"
                : $"Cassandra quorum lost: {a.Consistency} needs {a.Required} replicas and {a.Alive} are alive; operations fail with EIO until nodes come back"),
        };
        try
        {
            return new ServerConnection(await FileSystemClient.OpenAsync(settings, events, needLocks, ct).ConfigureAwait(false));
        }
        catch (ServerConnectException e) when (e.Server == ServerKind.Cassandra && !e.CredentialsRefused)
        {
            throw new ServersUnreachableException(
                $"{e.Message} Check that Cassandra runs there, or set --contact-points/--port (environment CASSAFS_CONTACT_POINTS, config file contactPoints).", e);
        }
        catch (ServerConnectException e) when (e.Server == ServerKind.Cassandra)
        {
            throw new ServersUnreachableException($"{e.Message} Check --user and --password (CASSAFS_USER, CASSAFS_PASSWORD).", e);
        }
        catch (ServerConnectException e)
        {
            throw new ServersUnreachableException(
                $"{e.Message} Check that ZooKeeper runs there, set --zookeeper (CASSAFS_ZOOKEEPER), or use --lock-mode lwt to lock through Cassandra instead.", e);
        }
    }

    /// <summary>Opens the filesystem in the configured keyspace (the library's client, not the kernel's mount).</summary>
    /// <param name="readOnly">Refuse every change (EROFS).</param>
    /// <param name="log">Told how each write with an unknown outcome (a timeout) was settled.</param>
    /// <param name="ct">Cancels the opening.</param>
    public Task<CassaFileSystem> OpenFileSystemAsync(bool readOnly = false, Action<string>? log = null, CancellationToken ct = default) =>
        _client.OpenFileSystemAsync(o => o with { ReadOnly = readOnly, Logger = log is null ? null : new LineLogger(log) }, ct);

    /// <summary>Creates a filesystem in <see cref="FormatOptions.Keyspace"/> (`cassafs format`, the demo).</summary>
    public Task FormatAsync(FormatOptions options, CancellationToken ct = default) => _client.FormatAsync(options, ct);

    /// <summary>Drops the settings' keyspace with every file in it (`cassafs destroy`).</summary>
    public Task DestroyAsync(CancellationToken ct = default) => _client.DestroyAsync(ct);

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
