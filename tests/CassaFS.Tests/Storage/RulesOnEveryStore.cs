using CassaFS.Locks;
using static CassaFS.Tests.FsTestExtensions;

namespace CassaFS.Tests.Storage;

/// <summary>
/// A few POSIX rules run over each store: the filesystem on real Cassandra, and the same filesystem over the in-memory
/// store, which is only a second implementation of the contract (<see cref="StoreContract"/>) and never the only one
/// a rule is tested on. That both agree shows the rules live above the store.
/// </summary>
public abstract class RulesOnEveryStore : IAsyncLifetime
{
    private protected CassaFileSystem Fs { get; private set; } = null!;

    private protected abstract Task<CassaFileSystem> OpenAsync();

    public async Task InitializeAsync() => Fs = await OpenAsync();

    public virtual async Task DisposeAsync() => await Fs.DisposeAsync();

    [Fact]
    public async Task A_name_is_made_once_a_directory_counts_its_subdirectories_and_only_an_empty_one_goes()
    {
        var dir = await Fs.ScratchAsync();
        var sub = await Fs.MkdirAsync(dir.Id, "sub", 0x1ED, Root);
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => Fs.MkdirAsync(dir.Id, "sub", 0x1ED, Root)));
        Assert.Equal(3, (await Fs.GetAttrAsync(dir.Id)).Nlink);
        await Fs.WriteFileAsync(sub.Id, "f", "x"u8.ToArray());
        Assert.Equal(Errno.ENOTEMPTY, await ErrnoOf(() => Fs.RmdirAsync(dir.Id, "sub", Root)));
        await Fs.UnlinkAsync(sub.Id, "f", Root);
        await Fs.RmdirAsync(dir.Id, "sub", Root);
        Assert.Equal(2, (await Fs.GetAttrAsync(dir.Id)).Nlink);
        Assert.Empty(await Fs.NamesAsync(dir.Id));
    }

    [Fact]
    public async Task Links_count_names_a_rename_over_a_file_frees_it_and_the_data_lives_while_a_name_does()
    {
        var dir = await Fs.ScratchAsync();
        var data = System.Security.Cryptography.RandomNumberGenerator.GetBytes((Fs.BlockSize * 2) + 17);
        var file = await Fs.WriteFileAsync(dir.Id, "a", data);
        await Fs.LinkAsync(file.Id, dir.Id, "b", Root);
        Assert.Equal(2, (await Fs.GetAttrAsync(file.Id)).Nlink);
        var other = await Fs.WriteFileAsync(dir.Id, "c", "old"u8.ToArray());
        await Fs.RenameAsync(dir.Id, "a", dir.Id, "c", RenameFlags.None, Root);
        await Fs.RemovalsSettledAsync(); // the purge of what lost its last name runs behind the removal
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => Fs.GetAttrAsync(other.Id)));
        Assert.Equal(new[] { "b", "c" }, (await Fs.NamesAsync(dir.Id)).Order(StringComparer.Ordinal));
        await Fs.UnlinkAsync(dir.Id, "b", Root);
        Assert.Equal(1, (await Fs.GetAttrAsync(file.Id)).Nlink);
        Assert.Equal(data, await Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_sticky_directory_keeps_others_from_removing_a_users_file()
    {
        var dir = await Fs.ScratchAsync();
        await Fs.SetAttrAsync(dir.Id, new AttributeChanges { Mode = 0x3FF }, Root); // 01777
        await Fs.WriteFileAsync(dir.Id, "alices", "a"u8.ToArray(), Alice);
        Assert.Equal(Errno.EPERM, await ErrnoOf(() => Fs.UnlinkAsync(dir.Id, "alices", Bob)));
        await Fs.UnlinkAsync(dir.Id, "alices", Alice);
    }

    [Fact]
    public async Task A_hole_reads_as_zeros_and_a_shrink_then_grow_leaves_zeros_behind_the_cut()
    {
        var dir = await Fs.ScratchAsync();
        var (handle, file) = await Fs.CreateAsync(dir.Id, "sparse", 0x1A4, OpenFlags.ReadWrite, Root);
        var bs = Fs.BlockSize;
        await Fs.WriteAsync(handle, 3L * bs, "tail"u8.ToArray());
        await Fs.WriteAsync(handle, 10, "head"u8.ToArray());
        await Fs.ReleaseAsync(handle);
        var bytes = await Fs.ReadFileAsync(file.Id);
        Assert.Equal((3L * bs) + 4, bytes.Length);
        Assert.Equal("head"u8.ToArray(), bytes[10..14]);
        Assert.All(bytes[14..(3 * bs)], b => Assert.Equal(0, b));
        Assert.Equal(2, (await Fs.GetAttrAsync(file.Id)).Blocks);

        await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = 12 }, Root);
        await Fs.SetAttrAsync(file.Id, new AttributeChanges { Size = 20 }, Root);
        Assert.Equal("he\0\0\0\0\0\0\0\0"u8.ToArray(), (await Fs.ReadFileAsync(file.Id))[10..]);
        Assert.True((await Fsck.RunAsync(Fs, new FsckOptions())).Clean);
    }
}

/// <summary>The rules on the run's real Cassandra, with ZooKeeper locks.</summary>
public sealed class RulesOnCassandra : RulesOnEveryStore, IClassFixture<FileSystemFixture>
{
    private readonly FileSystemFixture _fixture;

    public RulesOnCassandra(FileSystemFixture fixture) => _fixture = fixture;

    private protected override Task<CassaFileSystem> OpenAsync() => Task.FromResult(_fixture.Fs);

    public override Task DisposeAsync() => Task.CompletedTask; // the fixture's, closed with it
}

/// <summary>The same rules over the in-memory store, with in-process locks.</summary>
public sealed class RulesOnMemory : RulesOnEveryStore
{
    private protected override async Task<CassaFileSystem> OpenAsync() =>
        CassaFileSystem.Open(await MemoryStore.FormattedAsync(), new FileSystemOptions { Keyspace = "memory", Locks = new LocalLockProvider() }, 64 * 1024);
}
