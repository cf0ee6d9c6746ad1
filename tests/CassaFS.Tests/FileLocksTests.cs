using CassaFS.Locks;

namespace CassaFS.Tests;

/// <summary>The domain's file lock table (flock and byte ranges, as every face uses it), driven directly over in-process locks.</summary>
public sealed class FileLocksTests
{
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
