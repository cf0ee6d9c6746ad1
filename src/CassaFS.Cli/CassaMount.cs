using CassaFS.Client;
using CassaFS.Fuse;
using CassaFS.Mount;

namespace CassaFS.Cli;

/// <summary>
/// One running mount in this process: servers connected, filesystem opened, served through FUSE, recorded in the
/// <see cref="MountRegistry"/>. <see cref="Completion"/> completes after the kernel let go and everything was
/// flushed and closed, however the mount ended (umount, SIGTERM/SIGINT, <see cref="UnmountAsync"/>).
/// </summary>
public sealed class CassaMount : IAsyncDisposable
{
    private readonly ServerConnection _connection;
    private readonly CassaFileSystem _fs;
    private readonly MountRegistry _registry;
    private readonly Task _completion;

    private CassaMount(string mountPoint, ServerConnection connection, CassaFileSystem fs, CassaFuseFileSystem adapter, FuseMount fuse, MountRegistry registry)
    {
        MountPoint = mountPoint;
        _connection = connection;
        _fs = fs;
        Adapter = adapter;
        Fuse = fuse;
        _registry = registry;
        _completion = TearDownAfterUnmountAsync();
    }

    public string MountPoint { get; }
    public FuseMount Fuse { get; }
    public CassaFuseFileSystem Adapter { get; }
    public ServerConnection Connection => _connection;

    /// <summary>Completes once unmounted and torn down (open files flushed, locks released, sessions closed).</summary>
    public Task Completion => _completion;

    /// <summary>Connects, opens the filesystem and mounts it on <paramref name="mountPoint"/>.</summary>
    /// <exception cref="MountFailedException">The mount point is busy or missing, or the kernel refused the mount.</exception>
    public static async Task<CassaMount> StartAsync(string mountPoint, ClientSettings settings, MountSettings mount, MountRegistry registry,
        Action<string>? log = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(mount);
        ArgumentNullException.ThrowIfNull(registry);
        var full = Path.GetFullPath(mountPoint).TrimEnd('/');
        if (full.Length == 0) full = "/";
        // Checked before connecting, so a busy mount point fails at once and says why.
        if (MountRegistry.MountedAt(full) is { } what)
            throw new MountFailedException($"{full} is busy: {what} is already mounted there. Unmount it first (cassafs umount {full}; " +
                                           $"fusermount3 -u -z {full} for a dead mount that says 'Transport endpoint is not connected').");
        if (File.Exists(full)) throw new MountFailedException($"the mount point {full} is a file, not a directory; mount on an empty directory (mkdir -p <dir>).");
        if (!Directory.Exists(full)) throw new MountFailedException($"the mount point {full} does not exist; create it first (mkdir -p {full}).");

        var connection = await ServerConnection.OpenAsync(settings, log: log, ct: ct).ConfigureAwait(false);
        CassaFileSystem? fs = null;
        FileLocks? locks = null;
        try
        {
            fs = await connection.OpenFileSystemAsync(mount.ReadOnly, log, ct).ConfigureAwait(false);
            locks = new FileLocks(connection.Locks);
            var adapter = new CassaFuseFileSystem(fs, locks) { OnUnexpectedError = e => log?.Invoke($"EIO: {e.GetType().Name}: {e.Message}") };
            FuseMount fuse;
            try
            {
                fuse = await FuseMount.MountAsync(full, adapter, mount.ToFuseOptions(settings.Keyspace, e => log?.Invoke($"EIO: {e}")), ct).ConfigureAwait(false);
            }
            catch (FuseMountException e)
            {
                throw new MountFailedException($"mounting {full} failed: {e.Message}", e);
            }
            registry.Record(new MountState
            {
                MountPoint = fuse.MountPoint,
                Pid = Environment.ProcessId,
                Keyspace = settings.Keyspace,
                Cassandra = ConnectionSettings.Hosts(settings),
                ZooKeeper = settings.LockMode == LockMode.ZooKeeper ? settings.ZooKeeper : null,
                LockMode = ClientSettings.Name(settings.LockMode),
                ReadOnly = mount.ReadOnly,
            });
            return new CassaMount(fuse.MountPoint, connection, fs, adapter, fuse, registry);
        }
        catch
        {
            if (locks is not null) await locks.DisposeAsync().ConfigureAwait(false);
            if (fs is not null) await fs.DisposeAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task TearDownAfterUnmountAsync()
    {
        try
        {
            await Fuse.Completion.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await Adapter.CloseAllAsync().ConfigureAwait(false);
                if (Adapter.Locks is not null) await Adapter.Locks.DisposeAsync().ConfigureAwait(false);
                await _fs.DisposeAsync().ConfigureAwait(false);
                await _connection.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                _registry.Forget(MountPoint);
            }
        }
    }

    /// <summary>Unmounts (lazily if files are still open) and waits for the teardown.</summary>
    public async Task UnmountAsync()
    {
        await Fuse.UnmountAsync().ConfigureAwait(false);
        await _completion.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await UnmountAsync().ConfigureAwait(false);
}
