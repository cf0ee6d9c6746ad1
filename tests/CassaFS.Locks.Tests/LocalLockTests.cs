using CassaFS.Cql;

namespace CassaFS.Locks.Tests;

[Collection(TestBedGroup.Name)]
public sealed class LocalLockTests(TestBed bed)
{
    [Fact]
    public async Task Eight_clients_each_entering_the_lock_200_times_count_to_exactly_1600()
    {
        var provider = new LocalLockProvider();
        var sessions = new List<CqlSession>();
        try
        {
            for (var i = 0; i < 8; i++) sessions.Add(await bed.NewSessionAsync());
            var counter = await Counters.NewAsync(bed.Session);
            var most = await Contention.CountUnderLockAsync(Enumerable.Repeat((ILockProvider)provider, 8).ToList(), sessions, counter, 200, LockKey.ForFileSystem("local-count"));
            Assert.Equal(1600, await Counters.ReadAsync(bed.Session, counter));
            Assert.Equal(1, most);
        }
        finally
        {
            foreach (var s in sessions) await s.DisposeAsync();
        }
    }

    [Fact]
    public Task Readers_share_the_lock_while_a_writer_holds_it_alone() =>
        RwLockSemantics.Readers_share_and_a_writer_waits_for_them(new LocalLockProvider());

    [Fact]
    public Task A_writer_queued_behind_readers_gets_the_lock_before_readers_that_came_later() =>
        RwLockSemantics.A_waiting_writer_goes_before_later_readers(new LocalLockProvider());

    [Fact]
    public async Task Fencing_tokens_increase_with_every_grant_of_a_key()
    {
        var provider = new LocalLockProvider();
        var key = LockKey.ForInode(Guid.NewGuid());
        long last = 0;
        for (var i = 0; i < 10; i++)
        {
            await using var held = await provider.AcquireAsync(new LockRequest(key, i % 2 == 0 ? LockMode.Read : LockMode.Write));
            Assert.True(held.FencingToken > last);
            last = held.FencingToken;
        }
    }

    [Fact]
    public async Task A_timed_out_waiter_leaves_the_queue_and_names_the_holder()
    {
        var provider = new LocalLockProvider();
        var key = LockKey.ForInode(Guid.NewGuid());
        await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "fsck" });
        var e = await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromMilliseconds(100) }));
        Assert.Equal("fsck", Assert.Single(e.Holders).Holder.Purpose);
        Assert.Empty((await provider.InspectAsync(key)).Waiters);
    }

    [Fact]
    public async Task Breaking_a_holder_marks_it_Lost_and_lets_the_next_waiter_in()
    {
        var provider = new LocalLockProvider();
        var key = LockKey.ForInode(Guid.NewGuid());
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        var next = provider.AcquireAsync(new LockRequest(key, LockMode.Write)).AsTask();
        var id = Assert.Single((await provider.InspectAsync(key)).Holders).Id;
        Assert.True(await provider.BreakAsync(key, id, "test"));
        Assert.Equal(LockState.Lost, held.State);
        Assert.True(held.LostToken.IsCancellationRequested);
        Assert.Contains("test", held.Holder.BrokenBy, StringComparison.Ordinal);
        await using var nextHeld = await Contention.Within(next, 5, "next waiter");
        Assert.True(nextHeld.FencingToken > held.FencingToken);
        await held.ReleaseAsync(); // releasing a broken lock must not release the new holder's
        Assert.Single((await provider.InspectAsync(key)).Holders);
    }
}

public class LockKeyTests
{
    [Theory]
    [InlineData("a/b")]
    [InlineData("50%2F off")]
    [InlineData("colon: here")]
    [InlineData("ünïcödé/..")]
    public void Every_key_round_trips_through_its_ZooKeeper_node_name(string text)
    {
        foreach (var key in new[] { LockKey.ForFileSystem(text), LockKey.ForFileSystem($"/{text}/{Guid.NewGuid()}") })
        {
            Assert.DoesNotContain('/', key.NodeName);
            Assert.Equal(key, LockKey.FromNodeName(key.NodeName));
        }
    }

    [Fact]
    public void Keys_sort_in_one_global_order_and_only_known_kinds_parse()
    {
        var inode = LockKey.ForInode(Guid.Empty);
        var advisory = LockKey.ForAdvisory(Guid.Empty);
        Assert.True(advisory < inode);
        foreach (var key in new[] { inode, advisory, LockKey.ForByteRanges(Guid.Empty), LockKey.ForOpenFile(Guid.Empty), LockKey.ForFileSystem("x"), LockKey.ForBakeryParticipant(3) })
            Assert.Equal(key, LockKey.Parse(key.Value));
        Assert.Equal(Guid.Empty, LockKey.ForByteRanges(Guid.Empty).AdvisoryInode);
        Assert.Throws<FormatException>(() => LockKey.Parse("bogus/1"));
    }
}
