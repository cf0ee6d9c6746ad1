using System.Security.Cryptography;
using System.Text;
using CassaFS.Locks;

namespace CassaFS.Tests;

public class ConcurrencyTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    [Fact]
    public async Task Four_clients_making_the_same_directory_at_once_exactly_one_succeeds_every_time()
    {
        var clients = new List<FileSystemFixture.Client>();
        for (var i = 0; i < 4; i++) clients.Add(await f.SecondClientAsync());
        try
        {
            var dir = await Fs.ScratchAsync();
            for (var trial = 0; trial < 25; trial++)
            {
                var name = $"race{trial}";
                using var start = new ManualResetEventSlim();
                var attempts = clients.Select(c => Task.Run(async () =>
                {
                    start.Wait();
                    try { await c.Fs.MkdirAsync(dir.Id, name, 0x1ED, Root); return Errno.EPERM + 1000; }
                    catch (FileSystemException e) { return e.Errno; }
                })).ToArray();
                start.Set();
                var outcomes = await Task.WhenAll(attempts);
                Assert.Equal(1, outcomes.Count(o => o == Errno.EPERM + 1000));
                Assert.Equal(3, outcomes.Count(o => o == Errno.EEXIST));
            }
            Assert.Equal(2 + 25, (await Fs.GetAttrAsync(dir.Id)).Nlink);
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_create_racing_rmdir_never_leaves_a_name_inside_a_removed_directory()
    {
        var top = await Fs.ScratchAsync();
        await using var other = await f.SecondClientAsync();
        for (var trial = 0; trial < 10; trial++)
        {
            var victim = await Fs.MkdirAsync(top.Id, $"v{trial}", 0x1FF, Root);
            var create = Task.Run(async () =>
            {
                try { await other.Fs.MknodAsync(victim.Id, "late", FileType.Regular, 0x1A4, 0, Root); return true; }
                catch (FileSystemException) { return false; }
            });
            var remove = Task.Run(async () =>
            {
                try { await Fs.RmdirAsync(top.Id, $"v{trial}", Root); return true; }
                catch (FileSystemException e) when (e.Errno == Errno.ENOTEMPTY) { return false; }
            });
            var (created, removed) = (await create, await remove);
            Assert.False(created && removed, "a name was created in a directory that rmdir removed");
            Assert.True(created || removed);
        }
    }

    [Fact]
    public async Task A_holder_whose_lock_was_lost_cannot_commit_over_the_new_holder()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.MknodAsync(dir.Id, "fenced", FileType.Regular, 0x1A4, 0, Root);
        await using var stale = await f.SecondClientAsync();
        await using var fresh = await f.SecondClientAsync();
        var key = LockKey.ForInode(file.Id);
        // The stale client takes the lock, then its ZooKeeper session ends (as on expiry) without it noticing:
        // the lock state it reads stays Held, as for a client paused through its session timeout.
        var staleLocks = new NeverNoticesLoss(stale.Fs.Options.Locks);
        var staleHold = await LockSetFor(staleLocks, key);
        await stale.ZooKeeper.DisposeAsync();
        // The new holder takes the lock (a larger fencing token) and commits.
        await fresh.Fs.SetAttrAsync(file.Id, new AttributeChanges { Mode = 0x180 }, Root);
        // The stale holder's commit is refused by the storage: the fence has moved past its token.
        var e = await Assert.ThrowsAsync<FileSystemException>(() => stale.Fs.CommitAsync(staleHold, file.Id, "fenced", i => i with { Mode = 0x1FF }, default));
        Assert.Equal(Errno.ESTALE, e.Errno);
        Assert.Equal(0x180, (await Fs.GetAttrAsync(file.Id)).Mode);
    }

    [Fact]
    public async Task A_link_count_write_of_a_holder_whose_lock_was_lost_does_not_land_over_the_new_holders()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.MknodAsync(dir.Id, "counted", FileType.Regular, 0x1A4, 0, Root);
        await Fs.LinkAsync(file.Id, dir.Id, "second", Root);
        await using var stale = await f.SecondClientAsync();
        await using var fresh = await f.SecondClientAsync();
        // The stale client takes the file's lock, then its ZooKeeper session ends without it noticing.
        var staleHold = await LockSetFor(new NeverNoticesLoss(stale.Fs.Options.Locks), LockKey.ForInode(file.Id));
        await stale.ZooKeeper.DisposeAsync();
        // The new holder removes one name (the count goes from 2 to 1, a plain write stamped from its grant).
        await fresh.Fs.UnlinkAsync(dir.Id, "second", Root);
        // Only now does the stale holder's count go out: its lower stamp loses, whatever it says.
        await stale.Fs.LinksAsync(staleHold, file.Id, "counted", _ => 0, default);
        await stale.Fs.LinksAsync(staleHold, file.Id, "counted", _ => 7, default);
        await using var reader = await f.SecondClientAsync();
        Assert.Equal(1, (await reader.Fs.GetAttrAsync(file.Id)).Nlink);
        Assert.Equal(file.Id, (await reader.Fs.LookupAsync(dir.Id, "counted", Root)).Id);
    }

    [Fact]
    public async Task Name_writes_of_a_holder_whose_directory_lock_was_lost_do_not_land_over_the_new_holders_names()
    {
        var top = await Fs.ScratchAsync();
        var dir = await Fs.MkdirAsync(top.Id, "d", 0x1ED, Root);
        var doomed = await Fs.MkdirAsync(top.Id, "doomed", 0x1ED, Root);
        await using var stale = await f.SecondClientAsync();
        await using var fresh = await f.SecondClientAsync();
        // The stale client holds both directories' locks, then its ZooKeeper session ends without it noticing.
        var staleLocks = new NeverNoticesLoss(stale.Fs.Options.Locks);
        var staleHold = await LockSet.AcquireAsync(staleLocks, new[] { (LockKey.ForInode(dir.Id), LockMode.Write), (LockKey.ForInode(doomed.Id), LockMode.Write) },
            "fencing test", TimeSpan.FromSeconds(10), default);
        await stale.ZooKeeper.DisposeAsync();
        // The new holders make x and y, and remove the doomed directory.
        var x = await fresh.Fs.MknodAsync(dir.Id, "x", FileType.Regular, 0x1A4, 0, Root);
        await fresh.Fs.MknodAsync(dir.Id, "y", FileType.Regular, 0x1A4, 0, Root);
        await fresh.Fs.RmdirAsync(top.Id, "doomed", Root);
        // Only now do the stale holder's name writes go out (its process was paused, its requests held up).
        await stale.Fs.WriteEntryAsync(staleHold, dir.Id, new DirectoryEntry("x", Guid.NewGuid(), FileType.Regular), default);
        await stale.Fs.RemoveEntryAsync(staleHold, dir.Id, "y", default);
        await stale.Fs.WriteEntryAsync(staleHold, doomed.Id, new DirectoryEntry("late", Guid.NewGuid(), FileType.Regular), default);

        await using var reader = await f.SecondClientAsync();
        Assert.Equal(x.Id, (await reader.Fs.LookupAsync(dir.Id, "x", Root)).Id);
        Assert.Equal(new[] { "x", "y" }, (await reader.Fs.NamesAsync(dir.Id)).Order(StringComparer.Ordinal));
        Assert.Empty(await reader.Fs.Store.ListEntriesAsync(doomed.Id, null, 10, default).ToListAsync());
    }

    [Fact]
    public async Task A_block_write_of_a_holder_whose_lock_was_lost_does_not_land_over_the_new_holders_data()
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, "stalled", Enumerable.Repeat((byte)'0', 100).ToArray());
        await using var stale = await f.SecondClientAsync(real => new NeverNoticesLoss(real));
        await using var fresh = await f.SecondClientAsync();
        // The stale writer takes the inode lock and buffers its write; then it stalls (its process paused, its
        // request held up in the network) while its ZooKeeper session ends, which it has not noticed.
        var staleHandle = await stale.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await stale.Fs.WriteAsync(staleHandle, 0, Enumerable.Repeat((byte)'A', 100).ToArray());
        await stale.ZooKeeper.DisposeAsync();
        // The next holder writes and commits.
        var freshHandle = await fresh.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await fresh.Fs.WriteAsync(freshHandle, 0, Enumerable.Repeat((byte)'B', 100).ToArray());
        await fresh.Fs.ReleaseAsync(freshHandle);
        // The stale writer's block write goes out only now, after the new holder's: storage must keep the new data,
        // and the stale writer learns its write did not count.
        var e = await Assert.ThrowsAsync<FileSystemException>(() => stale.Fs.FsyncAsync(staleHandle));
        Assert.Equal(Errno.ESTALE, e.Errno);
        await using var reader = await f.SecondClientAsync();
        Assert.Equal(new string('B', 100), Encoding.ASCII.GetString(await reader.Fs.ReadFileAsync(file.Id)));
    }

    /// <summary>
    /// A stale writer (its lock lost unnoticed) buffers a small write into stored data, a slice; the next holder then
    /// does <paramref name="fresh"/>; the stale slice is stored only after. Returns what a third client reads.
    /// </summary>
    private async Task<string> ReadAfterAStaleSliceAsync(string name, Func<CassaFileSystem, Guid, Task> fresh)
    {
        var dir = await Fs.ScratchAsync();
        var file = await Fs.WriteFileAsync(dir.Id, name, Enumerable.Repeat((byte)'0', 100).ToArray());
        await using var stale = await f.SecondClientAsync(real => new NeverNoticesLoss(real));
        await using var next = await f.SecondClientAsync();
        var staleHandle = await stale.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await stale.Fs.WriteAsync(staleHandle, 10, Enumerable.Repeat((byte)'A', 20).ToArray());
        await stale.ZooKeeper.DisposeAsync();
        await fresh(next.Fs, file.Id);
        var e = await Assert.ThrowsAsync<FileSystemException>(() => stale.Fs.FsyncAsync(staleHandle));
        Assert.Equal(Errno.ESTALE, e.Errno);
        await using var reader = await f.SecondClientAsync();
        return Encoding.ASCII.GetString(await reader.Fs.ReadFileAsync(file.Id));
    }

    [Fact]
    public async Task A_slice_of_a_holder_whose_lock_was_lost_does_not_show_over_the_new_holders_block()
    {
        var read = await ReadAfterAStaleSliceAsync("stale-slice", async (fs, id) =>
        {
            var handle = await fs.OpenAsync(id, OpenFlags.WriteOnly, Root);
            await fs.WriteAsync(handle, 0, Enumerable.Repeat((byte)'B', 100).ToArray());
            await fs.ReleaseAsync(handle);
        });
        Assert.Equal(new string('B', 100), read);
    }

    [Fact]
    public async Task A_slice_of_a_holder_whose_lock_was_lost_does_not_come_back_after_the_new_holder_truncates_and_extends()
    {
        var read = await ReadAfterAStaleSliceAsync("stale-slice-cut", async (fs, id) =>
        {
            await fs.SetAttrAsync(id, new AttributeChanges { Size = 0 }, Root);
            await fs.SetAttrAsync(id, new AttributeChanges { Size = 100 }, Root);
        });
        Assert.Equal(new string('\0', 100), read);
    }

    [Fact]
    public async Task A_file_another_client_unlinks_stays_readable_and_writable_where_it_is_open_and_goes_at_the_last_close()
    {
        // Issue 13 §3: the unlinking client purged the inode at once, and the other client's descriptor lost its data.
        var dir = await Fs.ScratchAsync();
        var data = RandomNumberGenerator.GetBytes(150_000); // three 64 KiB blocks
        var file = await Fs.WriteFileAsync(dir.Id, "open-elsewhere", data);
        await using var holder = await f.SecondClientAsync();
        await using var latecomer = await f.SecondClientAsync();
        var h = await holder.Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);

        await Fs.UnlinkAsync(dir.Id, "open-elsewhere", Root);

        Assert.Equal(data, await holder.Fs.ReadAllAsync(h, data.Length));
        var more = RandomNumberGenerator.GetBytes(70_000);
        await holder.Fs.WriteAsync(h, data.Length, more);
        await holder.Fs.FsyncAsync(h);
        Assert.Equal(data.Concat(more).ToArray(), await holder.Fs.ReadAllAsync(h, data.Length + more.Length));
        Assert.Equal(0, (await Fs.Store.GetInodeAsync(file.Id, default))!.Nlink);
        // Opening it anew after the unlink is opening a name that is gone: for a client that holds it open too (its
        // kernel still caching the name another client removed), but not for the one that removed it (its kernel
        // knows the name went: only a descriptor, /proc/self/fd, reaches the file there).
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => latecomer.Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root)));
        Assert.Equal(Errno.ENOENT, await ErrnoOf(() => holder.Fs.OpenAsync(file.Id, OpenFlags.ReadOnly, Root)));
        var own = await Fs.WriteFileAsync(dir.Id, "open-here", data);
        var ownHandle = await Fs.OpenAsync(own.Id, OpenFlags.ReadOnly, Root);
        await Fs.UnlinkAsync(dir.Id, "open-here", Root);
        var reopened = await Fs.OpenAsync(own.Id, OpenFlags.ReadOnly, Root);
        Assert.Equal(data, await Fs.ReadAllAsync(reopened, data.Length));
        await Fs.ReleaseAsync(reopened);
        await Fs.ReleaseAsync(ownHandle);

        await holder.Fs.ReleaseAsync(h);
        Assert.Null(await Fs.Store.GetInodeAsync(file.Id, default));
        Assert.Empty(await Fs.Store.BlockIndexesAsync(file.Id, 0, default).ToListAsync());
    }

    [Fact]
    public async Task A_handle_that_wrote_and_read_under_its_lock_reads_another_clients_later_write_once_the_lock_went()
    {
        // Blocks read under a writer's holding are good only while it holds the lock. A handle whose first plain
        // read came after its holding ended served them after another client's write (SQLite saw a malformed page).
        var dir = await Fs.ScratchAsync();
        var length = 4 * Fs.BlockSize;
        var file = await Fs.WriteFileAsync(dir.Id, "handover", Enumerable.Repeat((byte)'A', length).ToArray());
        var handle = await Fs.OpenAsync(file.Id, OpenFlags.ReadWrite, Root);
        await Fs.WriteAsync(handle, 0, "a"u8.ToArray()); // takes the lock
        var expected = Enumerable.Repeat((byte)'A', length).ToArray();
        expected[0] = (byte)'a';
        Assert.Equal(expected, await Fs.ReadAllAsync(handle, length)); // read under it
        await Fs.FsyncAsync(handle);

        await using var other = await f.SecondClientAsync();
        var otherHandle = await other.Fs.OpenAsync(file.Id, OpenFlags.WriteOnly, Root);
        await other.Fs.WriteAsync(otherHandle, 0, Enumerable.Repeat((byte)'B', length).ToArray()); // waits for the idle holder to let go
        await other.Fs.ReleaseAsync(otherHandle);

        Assert.Equal(Enumerable.Repeat((byte)'B', length).ToArray(), await Fs.ReadAllAsync(handle, length));
        await Fs.ReleaseAsync(handle);
    }

    private static Task<LockSet> LockSetFor(ILockProvider provider, LockKey key) =>
        LockSet.AcquireAsync(provider, new[] { (key, LockMode.Write) }, "fencing test", TimeSpan.FromSeconds(10), default);

    /// <summary>Real ZooKeeper locks whose handles keep saying Held: a client that has not yet noticed its session is gone.</summary>
    private sealed class NeverNoticesLoss(ILockProvider inner) : ForwardingLockProvider(inner)
    {
        public override async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default) => new Oblivious(await Inner.AcquireAsync(request, ct));

        private sealed class Oblivious(ILockHandle real) : ForwardingLockHandle(real)
        {
            public override LockState State => LockState.Held;
            public override event EventHandler<LockState>? StateChanged { add { } remove { } }
            public override CancellationToken LostToken => CancellationToken.None;
            public override ValueTask ReleaseAsync(CancellationToken ct = default) => ValueTask.CompletedTask;
            protected override ValueTask LetGoAsync() => ValueTask.CompletedTask;
        }
    }
}
