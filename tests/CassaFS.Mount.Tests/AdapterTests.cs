using CassaFS.Fuse;
using CassaFS.Locks;
using CassaFS.Mount;

namespace CassaFS.Mount.Tests;

using Errno = CassaFS.Errno;

/// <summary>The FUSE adapter's node table and the domain's file lock table, driven directly.</summary>
public sealed class AdapterTests
{
    [Fact]
    public void Node_ids_are_stable_per_inode_and_go_when_the_kernel_forgets_every_lookup()
    {
        var nodes = new NodeTable();
        Assert.True(nodes.TryGetInode(NodeTable.RootId, out var root));
        Assert.Equal(Guid.Empty, root);
        var inode = Guid.NewGuid();
        var peeked = nodes.Peek(inode);
        var id = nodes.Remember(inode, NodeTable.RootId, "f");
        Assert.Equal(peeked, id);
        Assert.Equal(id, nodes.Remember(inode, NodeTable.RootId, "f"));
        nodes.Forget(id, 1);
        Assert.True(nodes.TryGetInode(id, out _));
        nodes.Forget(id, 1);
        Assert.False(nodes.TryGetInode(id, out _));
        nodes.Forget(NodeTable.RootId, 5);
        Assert.True(nodes.TryGetInode(NodeTable.RootId, out _));
    }

    [Fact]
    public void A_node_s_path_follows_its_lookups_and_this_mount_s_renames_and_goes_with_its_name()
    {
        var nodes = new NodeTable();
        var dir = nodes.Remember(Guid.NewGuid(), NodeTable.RootId, "dir");
        var file = nodes.Remember(Guid.NewGuid(), dir, "a.txt");
        var other = nodes.Remember(Guid.NewGuid(), dir, "b.txt");
        Assert.Equal("/", nodes.PathOf(NodeTable.RootId));
        Assert.Equal("/dir/a.txt", nodes.PathOf(file));

        nodes.Renamed(NodeTable.RootId, "dir", NodeTable.RootId, "moved");
        Assert.Equal("/moved/a.txt", nodes.PathOf(file));
        nodes.Renamed(dir, "a.txt", dir, "b.txt"); // replaces b.txt: that node no longer has a name
        Assert.Equal("/moved/b.txt", nodes.PathOf(file));
        Assert.Null(nodes.PathOf(other));

        var c = nodes.Remember(Guid.NewGuid(), dir, "c.txt");
        nodes.Exchanged(dir, "b.txt", dir, "c.txt");
        Assert.Equal("/moved/c.txt", nodes.PathOf(file));
        Assert.Equal("/moved/b.txt", nodes.PathOf(c));

        nodes.Unnamed(dir, "c.txt");
        Assert.Null(nodes.PathOf(file));
        nodes.Forget(dir, 1);
        Assert.Null(nodes.PathOf(c));
    }

    [Fact]
    public async Task Byte_range_locks_of_two_owners_conflict_only_where_they_overlap_and_unlocking_a_middle_splits()
    {
        await using var provider = new LocalLockProvider();
        await using var locks = new FileLocks(provider);
        var file = Guid.NewGuid();
        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 1, new RecordLock(RecordLockType.Write, 0, 100, 10), false, default));
        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 2, new RecordLock(RecordLockType.Write, 100, 50, 20), false, default));
        Assert.Equal(Errno.EAGAIN, await locks.SetRangeAsync(file, 2, new RecordLock(RecordLockType.Read, 99, 1, 20), false, default));

        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 1, new RecordLock(RecordLockType.Unlock, 40, 20, 10), false, default));
        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 2, new RecordLock(RecordLockType.Read, 45, 10, 20), false, default));
        var conflict = await locks.TestRangeAsync(file, 2, new RecordLock(RecordLockType.Read, 0, 0, 20), default);
        Assert.Equal(new RecordLock(RecordLockType.Write, 0, 40, 10), conflict);

        await locks.ReleaseRangesAsync(file, 1);
        Assert.Equal(RecordLockType.Unlock, (await locks.TestRangeAsync(file, 2, new RecordLock(RecordLockType.Write, 0, 0, 20), default)).Type);
    }

    [Fact]
    public async Task A_blocking_range_lock_waits_for_the_other_owner_and_a_shared_flock_blocks_an_exclusive_one()
    {
        await using var provider = new LocalLockProvider();
        await using var locks = new FileLocks(provider);
        var file = Guid.NewGuid();
        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 1, new RecordLock(RecordLockType.Write, 0, 0, 10), false, default));
        var waiting = locks.SetRangeAsync(file, 2, new RecordLock(RecordLockType.Write, 10, 10, 20), true, default).AsTask();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(Errno.Success, await locks.SetRangeAsync(file, 1, new RecordLock(RecordLockType.Unlock, 0, 0, 10), false, default));
        Assert.Equal(Errno.Success, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(Errno.Success, await locks.FlockAsync(file, 7, LockMode.Read, true, null, default));
        Assert.Equal(Errno.Success, await locks.FlockAsync(file, 8, LockMode.Read, false, null, default));
        Assert.Equal(Errno.EAGAIN, await locks.FlockAsync(file, 9, LockMode.Write, false, null, default));
        await locks.ReleaseFlockAsync(file, 7);
        await locks.ReleaseFlockAsync(file, 8);
        Assert.Equal(Errno.Success, await locks.FlockAsync(file, 9, LockMode.Write, false, null, default));
    }
}
