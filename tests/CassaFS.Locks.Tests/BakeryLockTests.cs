using CassaFS.Cql;

namespace CassaFS.Locks.Tests;

[Collection(TestBedGroup.Name)]
public sealed class BakeryLockTests(TestBed bed) : IAsyncLifetime
{
    public Task InitializeAsync() => BakeryLockProvider.EnsureSchemaAsync(bed.Session, bed.Keyspace);

    public Task DisposeAsync() => Task.CompletedTask;

    // Reduced from 8 x 200: each acquire costs nine QUORUM round trips plus polling, so 4 participants x 50 keeps the
    // test to seconds while every participant still overtakes the others many times.
    [Fact]
    public async Task Four_participants_each_entering_the_bakery_50_times_count_to_exactly_200()
    {
        var sessions = new List<CqlSession>();
        try
        {
            for (var i = 0; i < 4; i++) sessions.Add(await bed.NewSessionAsync());
            var counter = await Counters.NewAsync(bed.Session);
            var providers = sessions.Select((s, i) => (ILockProvider)new BakeryLockProvider(s, bed.Keyspace, i, 4, TimeSpan.FromMilliseconds(20))).ToList();
            var most = await Contention.CountUnderLockAsync(providers, sessions, counter, 50, LockKey.ForInode(Guid.NewGuid()));
            Assert.Equal(200, await Counters.ReadAsync(bed.Session, counter));
            Assert.Equal(1, most);
        }
        finally
        {
            foreach (var s in sessions) await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_dead_participant_holding_its_number_blocks_the_others_until_an_operator_breaks_it()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var dead = new BakeryLockProvider(bed.Session, bed.Keyspace, 2, 3);
        var alive = new BakeryLockProvider(bed.Session, bed.Keyspace, 0, 3);
        var abandoned = await dead.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "crashed" });
        var e = await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await alive.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromMilliseconds(400) }));
        Assert.Equal("crashed", Assert.Single(e.Holders).Holder.Purpose);
        Assert.Empty((await alive.InspectAsync(key)).Waiters); // the timed-out waiter took its number back

        Assert.True(await alive.BreakAsync(key, "2", "participant 2 crashed"));
        await using var held = await alive.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromSeconds(5) });
        Assert.True(held.FencingToken > abandoned.FencingToken);
        Assert.Equal("0", Assert.Single((await alive.InspectAsync(key)).Holders).Id);
    }
}
