using System.Collections.Concurrent;
using CassaFS.Locks;

namespace CassaFS.Tests;

/// <summary>
/// A directory's shared lock kept between the names made and removed in it (<see cref="KeptLocks"/>), on real
/// ZooKeeper and Cassandra: taken once for a burst, let go at once for whoever waits for it, and when the client closes.
/// </summary>
public class KeptLockTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    /// <summary>Counts the locks asked for, per key.</summary>
    private sealed class CountingLocks(ILockProvider inner) : ForwardingLockProvider(inner)
    {
        public ConcurrentDictionary<LockKey, int> Taken { get; } = new();

        public override ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
        {
            Taken.AddOrUpdate(request.Key, 1, (_, n) => n + 1);
            return Inner.AcquireAsync(request, ct);
        }
    }

    private async Task<int> HoldersAsync(Guid directory) =>
        (await new ZooKeeperLockProvider(f.ZooKeeper).InspectAsync(LockKey.ForInode(directory))).Holders.Count;

    [Fact]
    public async Task Names_made_and_removed_in_one_directory_take_its_lock_once_until_the_client_closes()
    {
        var dir = await Fs.ScratchAsync();
        CountingLocks? counting = null;
        var client = await f.SecondClientAsync(
            locks: inner => counting = new CountingLocks(inner),
            options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1) });
        await using (client)
        {
            for (var i = 0; i < 20; i++) await client.Fs.MknodAsync(dir.Id, $"f{i}", FileType.Regular, 0x1A4, 0, Root);
            for (var i = 0; i < 10; i++) await client.Fs.UnlinkAsync(dir.Id, $"f{i}", Root);
            var file = await client.Fs.LookupAsync(dir.Id, "f10", Root);
            await client.Fs.LinkAsync(file.Id, dir.Id, "hard", Root);

            Assert.Equal(1, counting!.Taken[LockKey.ForInode(dir.Id)]);
            Assert.Equal(1, await HoldersAsync(dir.Id));
            Assert.Equal(11, (await Fs.NamesAsync(dir.Id)).Count);
        }
        Assert.Equal(0, await HoldersAsync(dir.Id));
    }

    [Fact]
    public async Task Operations_of_one_client_take_turns_with_its_kept_lock_so_of_racing_creates_of_a_name_exactly_one_wins()
    {
        var dir = await Fs.ScratchAsync();
        CountingLocks? counting = null;
        await using var client = await f.SecondClientAsync(
            locks: inner => counting = new CountingLocks(inner),
            options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1) });
        await client.Fs.MknodAsync(dir.Id, "first", FileType.Regular, 0x1A4, 0, Root); // racing first takes would each go to ZooKeeper
        for (var trial = 0; trial < 10; trial++)
        {
            var attempts = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
            {
                try { await client.Fs.MknodAsync(dir.Id, $"same{trial}", FileType.Regular, 0x1A4, 0, Root); return true; }
                catch (FileSystemException e) when (e.Errno == Errno.EEXIST) { return false; }
            })).ToArray();
            Assert.Equal(1, (await Task.WhenAll(attempts)).Count(won => won));
        }
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => Task.Run(() => client.Fs.MknodAsync(dir.Id, $"f{i}", FileType.Regular, 0x1A4, 0, Root))));
        Assert.Equal(1, counting!.Taken[LockKey.ForInode(dir.Id)]);
        Assert.Equal(41, (await Fs.NamesAsync(dir.Id)).Count);
    }

    [Fact]
    public async Task Whoever_wants_a_kept_directory_lock_exclusive_gets_it_without_waiting_out_the_keeping_time()
    {
        var dir = await Fs.ScratchAsync();
        await using var keeper = await f.SecondClientAsync(options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1), LockTimeout = TimeSpan.FromSeconds(15) });
        await using var other = await f.SecondClientAsync(options: o => o with { LockTimeout = TimeSpan.FromSeconds(15) });
        await keeper.Fs.MknodAsync(dir.Id, "a", FileType.Regular, 0x1A4, 0, Root);
        Assert.Equal(1, await HoldersAsync(dir.Id));

        // Another client's mkdir takes the directory's lock: it would wait the keeping time (and time out) if the
        // kept lock went only when idle. Now the other client keeps it, and gives it back the same way.
        await other.Fs.MkdirAsync(dir.Id, "sub", 0x1ED, Root);
        Assert.Equal(1, await HoldersAsync(dir.Id));
        await keeper.Fs.MknodAsync(dir.Id, "b", FileType.Regular, 0x1A4, 0, Root);
        Assert.Equal(1, await HoldersAsync(dir.Id));
        await keeper.Fs.RenameAsync(dir.Id, "b", dir.Id, "c", RenameFlags.None, Root);
        await keeper.Fs.RmdirAsync(dir.Id, "sub", Root);
        Assert.Equal(new[] { "a", "c" }, (await Fs.NamesAsync(dir.Id)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_chmod_of_the_directory_elsewhere_between_two_names_is_what_the_next_name_is_checked_against()
    {
        var dir = await Fs.MkdirAsync((await Fs.ScratchAsync()).Id, "open", 0x1FF, Root);
        await using var keeper = await f.SecondClientAsync(options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1), LockTimeout = TimeSpan.FromSeconds(15) });
        await keeper.Fs.MknodAsync(dir.Id, "first", FileType.Regular, 0x1A4, 0, Alice);

        // The keeper read the directory (mode 777) under its kept lock; the chmod takes that lock exclusive.
        await Fs.SetAttrAsync(dir.Id, new AttributeChanges { Mode = 0x16D }, Root); // 555
        Assert.Equal(Errno.EACCES, await ErrnoOf(() => keeper.Fs.MknodAsync(dir.Id, "second", FileType.Regular, 0x1A4, 0, Alice)));
        await Fs.SetAttrAsync(dir.Id, new AttributeChanges { Mode = 0x1FF }, Root);
        await keeper.Fs.MknodAsync(dir.Id, "third", FileType.Regular, 0x1A4, 0, Alice);
        Assert.Equal(new[] { "first", "third" }, (await Fs.NamesAsync(dir.Id)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_file_made_under_a_kept_directory_lock_is_held_open_only_once_that_lock_goes_and_so_survives_another_clients_unlink()
    {
        var dir = await Fs.ScratchAsync();
        CountingLocks? counting = null;
        await using var maker = await f.SecondClientAsync(
            locks: inner => counting = new CountingLocks(inner),
            options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1) });
        var (closed, _) = await maker.Fs.CreateAsync(dir.Id, "closed", 0x1A4, OpenFlags.ReadWrite | OpenFlags.Create, Root);
        await maker.Fs.WriteAsync(closed, 0, "gone"u8.ToArray());
        await maker.Fs.ReleaseAsync(closed);
        var data = System.Security.Cryptography.RandomNumberGenerator.GetBytes(70_000);
        var (open, made) = await maker.Fs.CreateAsync(dir.Id, "open", 0x1A4, OpenFlags.ReadWrite | OpenFlags.Create, Root);
        await maker.Fs.WriteAsync(open, 0, data);
        await maker.Fs.FsyncAsync(open);
        Assert.False(counting!.Taken.ContainsKey(LockKey.ForOpenFile(closed.Inode)));
        Assert.False(counting.Taken.ContainsKey(LockKey.ForOpenFile(made.Id)));

        // The other client's unlink waits for the kept lock; before it goes, the file still open there is held.
        await Fs.UnlinkAsync(dir.Id, "open", Root);
        Assert.Equal(1, counting.Taken[LockKey.ForOpenFile(made.Id)]);
        Assert.False(counting.Taken.ContainsKey(LockKey.ForOpenFile(closed.Inode)));
        Assert.Equal(0, (await Fs.Store.GetInodeAsync(made.Id, default))!.Nlink);
        Assert.Equal(data, await maker.Fs.ReadAllAsync(open, data.Length));
        await maker.Fs.WriteAsync(open, data.Length, "more"u8.ToArray());
        await maker.Fs.FsyncAsync(open);
        Assert.Equal(data.Length + 4, (await maker.Fs.GetAttrAsync(made.Id)).Size);

        await maker.Fs.ReleaseAsync(open); // the last close anywhere purges it
        Assert.Null(await Fs.Store.GetInodeAsync(made.Id, default));
        Assert.Empty(await Fs.Store.BlockIndexesAsync(made.Id, 0, default).ToListAsync());
        Assert.Equal(new[] { "closed" }, await Fs.NamesAsync(dir.Id));
    }

    [Fact]
    public async Task A_name_found_absent_under_a_kept_lock_is_known_absent_only_until_a_name_is_written_or_the_lock_goes()
    {
        var dir = await Fs.ScratchAsync();
        await using var client = await f.SecondClientAsync(options: o => o with { KeepDirectoryLocksFor = TimeSpan.FromMinutes(1) });
        await client.Fs.MknodAsync(dir.Id, "y", FileType.Regular, 0x1A4, 0, Root); // the lock is kept from here

        // Renamed onto a name this client had just found absent: the create after it must still find it taken.
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => client.Fs.LookupAsync(dir.Id, "x", Root)));
        await client.Fs.RenameAsync(dir.Id, "y", dir.Id, "x", RenameFlags.None, Root);
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => client.Fs.CreateAsync(dir.Id, "x", 0x1A4, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive, Root)));

        // Made by another client after it was found absent here (the kept lock went for that client's create).
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => client.Fs.LookupAsync(dir.Id, "z", Root)));
        var theirs = await Fs.MknodAsync(dir.Id, "z", FileType.Regular, 0x1A4, 0, Root);
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => client.Fs.MknodAsync(dir.Id, "z", FileType.Regular, 0x1A4, 0, Root)));
        Assert.Equal(theirs.Id, (await Fs.LookupAsync(dir.Id, "z", Root)).Id);

        // Found absent, then made here: made once, as on any filesystem.
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => client.Fs.LookupAsync(dir.Id, "w", Root)));
        var (made, _) = await client.Fs.CreateAsync(dir.Id, "w", 0x1A4, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive, Root);
        await client.Fs.ReleaseAsync(made);
        Assert.Equal(Errno.EEXIST, await ErrnoOf(() => client.Fs.MknodAsync(dir.Id, "w", FileType.Regular, 0x1A4, 0, Root)));
        Assert.Equal(new[] { "w", "x", "z" }, (await Fs.NamesAsync(dir.Id)).Order(StringComparer.Ordinal));
    }
}
