using CassaFS.Cql;
using CassaFS.Locks;
using CassaFS.Testing;
using CassaFS.ZooKeeper;

namespace CassaFS.Tests;

/// <summary>A fresh filesystem (its own keyspace on the run's Cassandra) mounted with ZooKeeper locks (its own chroot).</summary>
public sealed class FileSystemFixture : IAsyncLifetime
{
    public CqlSession Session { get; private set; } = null!;
    public ZooKeeperClient ZooKeeper { get; private set; } = null!;
    public CassaFileSystem Fs { get; private set; } = null!;
    public string Keyspace { get; } = TestNames.Keyspace("fs");
    public string Chroot { get; } = TestNames.Chroot("fs");
    public string ContactPoint { get; private set; } = "";
    public string ZooKeeperConnect { get; private set; } = "";

    public async Task InitializeAsync()
    {
        ContactPoint = await TestServers.CassandraAsync();
        var zk = await TestServers.ZooKeeperAsync();
        await using (var root = await ZooKeeperClient.ConnectAsync(zk))
            await root.EnsurePathAsync(Chroot);
        ZooKeeperConnect = zk + Chroot;
        Session = await Connect(ContactPoint);
        await Schema.FormatAsync(Session, new FormatOptions { Keyspace = Keyspace, BlockSize = 64 * 1024 });
        Fs = await OpenAsync();
    }

    public static async Task<CqlSession> Connect(string contactPoint)
    {
        var options = new CqlSessionOptions();
        options.ContactPoints.Add(contactPoint);
        return await CqlSession.ConnectAsync(options);
    }

    /// <summary>
    /// Another client of the same filesystem: its own Cassandra session and ZooKeeper session (its locks seen through
    /// <paramref name="locks"/> when given, its options changed by <paramref name="options"/>).
    /// </summary>
    public async Task<Client> SecondClientAsync(Func<ILockProvider, ILockProvider>? locks = null, Func<FileSystemOptions, FileSystemOptions>? options = null)
    {
        var session = await Connect(ContactPoint);
        var zk = await ZooKeeperClient.ConnectAsync(ZooKeeperConnect);
        ILockProvider provider = new ZooKeeperLockProvider(zk);
        var settings = new FileSystemOptions { Keyspace = Keyspace, Locks = locks?.Invoke(provider) ?? provider };
        var fs = await CassaFileSystem.OpenAsync(session, options?.Invoke(settings) ?? settings);
        return new Client(session, zk, fs);
    }

    private async Task<CassaFileSystem> OpenAsync()
    {
        ZooKeeper = await ZooKeeperClient.ConnectAsync(ZooKeeperConnect);
        return await CassaFileSystem.OpenAsync(Session, new FileSystemOptions { Keyspace = Keyspace, Locks = new ZooKeeperLockProvider(ZooKeeper) });
    }

    public async Task DisposeAsync()
    {
        await Fs.DisposeAsync();
        await ZooKeeper.DisposeAsync();
        await Session.DisposeAsync();
    }

    /// <summary>A second client of the same filesystem, as another machine would have.</summary>
    public sealed record Client(CqlSession Session, ZooKeeperClient ZooKeeper, CassaFileSystem Fs) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Fs.DisposeAsync();
            await ZooKeeper.DisposeAsync();
            await Session.DisposeAsync();
        }
    }
}

/// <summary>Helpers that make tests read like the operations they check.</summary>
public static class FsTestExtensions
{
    public static readonly Caller Root = Caller.Root;
    public static readonly Caller Alice = new(1000, 1000, new[] { 1000, 50 });
    public static readonly Caller Bob = new(1001, 1001, new[] { 1001 });

    /// <summary>A fresh directory under the root, world-writable, for one test's files.</summary>
    public static Task<Inode> ScratchAsync(this CassaFileSystem fs) =>
        fs.MkdirAsync(Inode.RootId, "t" + Guid.NewGuid().ToString("N")[..12], 0x1FF, Root);

    public static async Task<Inode> WriteFileAsync(this CassaFileSystem fs, Guid dir, string name, byte[] data, Caller? caller = null)
    {
        var (handle, _) = await fs.CreateAsync(dir, name, 0x1A4, OpenFlags.WriteOnly, caller ?? Root);
        await fs.WriteAsync(handle, 0, data);
        await fs.ReleaseAsync(handle);
        return await fs.GetAttrAsync(handle.Inode);
    }

    public static async Task<byte[]> ReadFileAsync(this CassaFileSystem fs, Guid inode, Caller? caller = null)
    {
        var handle = await fs.OpenAsync(inode, OpenFlags.ReadOnly, caller ?? Root);
        var bytes = await fs.ReadAllAsync(handle, (await fs.GetAttrAsync(inode)).Size);
        await fs.ReleaseAsync(handle);
        return bytes;
    }

    /// <summary>Up to <paramref name="length"/> bytes from the start of an open file (fewer at its end).</summary>
    public static async Task<byte[]> ReadAllAsync(this CassaFileSystem fs, FileHandle handle, long length)
    {
        var buffer = new byte[length];
        var done = 0;
        while (done < length)
        {
            var n = await fs.ReadAsync(handle, done, buffer.AsMemory(done));
            if (n == 0) break;
            done += n;
        }
        return buffer[..done];
    }

    public static async Task<List<string>> NamesAsync(this CassaFileSystem fs, Guid dir, Caller? caller = null)
    {
        var names = new List<string>();
        await foreach (var e in fs.ReadDirectoryAsync(dir, caller ?? Root)) names.Add(e.Name);
        return names;
    }

    public static async Task<Errno> ErrnoOf(Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<FileSystemException>(action);
        return e.Errno;
    }
}
