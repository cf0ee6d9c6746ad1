using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>Byte-range locks (issue 13 §2): the ZooKeeper range recipe, and whole-file ranges over a provider without them.</summary>
[Collection(TestBedGroup.Name)]
public sealed class RangeLockTests(TestBed bed)
{
    private static LockKey NewKey() => LockKey.ForByteRanges(Guid.NewGuid());

    private static ByteRange R(long start, long end) => new(start, end);

    private static RangeLockRequest Request(LockKey key, LockMode mode, ByteRange range, TimeSpan? timeout = null, int pid = 0) =>
        new(key, mode, range) { Timeout = timeout, ForProcess = pid, Purpose = $"test {mode} {range}" };

    /// <summary>Two clients of ranges on separate ZooKeeper sessions (two mounts).</summary>
    private async Task<(IRangeLockProvider A, IRangeLockProvider B, ZooKeeperClient Ca, ZooKeeperClient Cb)> TwoClientsAsync()
    {
        var ca = await bed.NewZooKeeperAsync();
        var cb = await bed.NewZooKeeperAsync();
        return (RangeLocks.For(new ZooKeeperLockProvider(ca)), RangeLocks.For(new ZooKeeperLockProvider(cb)), ca, cb);
    }

    [Fact]
    public async Task Disjoint_ranges_of_two_clients_are_both_granted_and_overlapping_ones_conflict_unless_both_read()
    {
        var (a, b, ca, cb) = await TwoClientsAsync();
        await using var _ = ca;
        await using var __ = cb;
        var key = NewKey();
        await using var aw = await a.AcquireRangeAsync(Request(key, LockMode.Write, R(0, 100)));
        await using var bw = await b.AcquireRangeAsync(Request(key, LockMode.Write, R(100, 200), TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<LockTimeoutException>(async () => await b.AcquireRangeAsync(Request(key, LockMode.Read, R(99, 100), TimeSpan.FromMilliseconds(300))));
        await using var ar = await a.AcquireRangeAsync(Request(key, LockMode.Read, R(300, long.MaxValue)));
        await using var br = await b.AcquireRangeAsync(Request(key, LockMode.Read, R(250, 400), TimeSpan.FromSeconds(5)));
        // Ranges of one client never conflict with each other (the client sorts out its own owners).
        await using var aOverB = await a.AcquireRangeAsync(Request(key, LockMode.Write, R(50, 60), TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_waiter_is_granted_when_the_conflicting_range_goes_and_a_split_keeps_the_grants_place_ahead_of_it()
    {
        var (a, b, ca, cb) = await TwoClientsAsync();
        await using var _ = ca;
        await using var __ = cb;
        var key = NewKey();
        var held = await a.AcquireRangeAsync(Request(key, LockMode.Write, R(0, 100)));
        var waiting = b.AcquireRangeAsync(Request(key, LockMode.Write, R(40, 60))).AsTask();
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);

        // Unlocking the ends (keeping the middle) does not let the waiter in: the middle piece keeps the place.
        var pieces = await held.SplitAsync([(LockMode.Write, R(45, 55))]);
        Assert.Equal(LockState.Released, held.State);
        Assert.Equal([R(45, 55)], pieces.Select(p => p.Range));
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted, "the waiter overtook the piece split from the grant ahead of it");

        // A downgrade to Read still conflicts with the waiting writer; letting the piece go grants it.
        var read = await pieces[0].SplitAsync([(LockMode.Read, R(45, 55))]);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        await read[0].ReleaseAsync();
        await using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(LockState.Held, got.State);

        await Assert.ThrowsAsync<ArgumentException>(async () => await got.SplitAsync([(LockMode.Write, R(0, 100))]));
    }

    [Fact]
    public async Task A_conflict_names_the_first_range_its_holder_locked_merged_over_its_touching_grants()
    {
        var (a, b, ca, cb) = await TwoClientsAsync();
        await using var _ = ca;
        await using var __ = cb;
        var key = NewKey();
        Assert.Null(await b.FindRangeConflictAsync(key, LockMode.Write, ByteRange.WholeFile));
        await using var r1 = await a.AcquireRangeAsync(Request(key, LockMode.Read, R(200, 300), pid: 4242));
        await using var r2 = await a.AcquireRangeAsync(Request(key, LockMode.Read, R(300, 400), pid: 4242));
        await using var w = await a.AcquireRangeAsync(Request(key, LockMode.Write, R(1000, 1010), pid: 4242));

        var conflict = await b.FindRangeConflictAsync(key, LockMode.Write, R(350, 2000));
        Assert.NotNull(conflict);
        Assert.Equal((LockMode.Read, R(200, 400), 4242), (conflict.Mode, conflict.Range, conflict.Holder.ForProcess));
        Assert.Equal((LockMode.Write, R(1000, 1010)), (await b.FindRangeConflictAsync(key, LockMode.Read, R(0, 5000)) is { } c ? (c.Mode, c.Range) : default));
        Assert.Null(await b.FindRangeConflictAsync(key, LockMode.Read, R(0, 1000)));
        Assert.Null(await a.FindRangeConflictAsync(key, LockMode.Write, ByteRange.WholeFile)); // its own ranges
    }

    [Fact]
    public async Task A_clients_ranges_go_with_its_session_and_its_waiter_is_listed_with_its_range()
    {
        var (a, b, ca, cb) = await TwoClientsAsync();
        await using var __ = cb;
        var key = NewKey();
        var held = await a.AcquireRangeAsync(Request(key, LockMode.Write, R(10, 20)));
        var waiting = b.AcquireRangeAsync(Request(key, LockMode.Read, R(15, 16))).AsTask();
        await Task.Delay(300);
        var info = await new ZooKeeperLockProvider(cb).InspectAsync(key);
        Assert.Equal(R(10, 20), Assert.Single(info.Holders).Range);
        Assert.Equal(R(15, 16), Assert.Single(info.Waiters).Range);

        await ca.DisposeAsync(); // the mount dies: its ephemeral range nodes go with its session
        await using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(LockState.Held, got.State);
        Assert.Equal(LockState.Lost, held.State);
        await Assert.ThrowsAsync<LockLostException>(async () => await held.SplitAsync([(LockMode.Write, R(10, 15))]));
    }

    [Fact]
    public async Task Whole_file_ranges_over_a_provider_without_ranges_exclude_other_clients_whatever_the_range()
    {
        await using var provider = new LocalLockProvider();
        var a = RangeLocks.For(provider);
        var b = RangeLocks.For(provider);
        Assert.IsType<WholeFileRangeLocks>(a);
        var key = NewKey();
        var first = await a.AcquireRangeAsync(Request(key, LockMode.Read, R(0, 10)));
        await using var second = await a.AcquireRangeAsync(Request(key, LockMode.Read, R(50, 60)));
        await using var shared = await b.AcquireRangeAsync(Request(key, LockMode.Read, R(500, 600), TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<LockTimeoutException>(async () => await b.AcquireRangeAsync(Request(key, LockMode.Write, R(900, 901), TimeSpan.FromMilliseconds(200))));
        Assert.Equal(LockMode.Read, (await b.FindRangeConflictAsync(key, LockMode.Write, R(900, 901)))?.Mode);
        var pieces = await first.SplitAsync([(LockMode.Read, R(0, 5))]);
        await pieces[0].ReleaseAsync();
        await second.ReleaseAsync();
        await shared.ReleaseAsync();
        await using var write = await b.AcquireRangeAsync(Request(key, LockMode.Write, R(900, 901), TimeSpan.FromSeconds(1)));
        Assert.Equal(LockState.Held, write.State);
    }
}
