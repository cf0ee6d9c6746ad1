using CassaFS.Cql;

namespace CassaFS.Locks.Tests;

[Collection(TestBedGroup.Name)]
public sealed class LwtLeaseLockTests(TestBed bed) : IAsyncLifetime
{
    public Task InitializeAsync() => LwtLeaseLockProvider.EnsureSchemaAsync(bed.Session, bed.Keyspace);

    public Task DisposeAsync() => Task.CompletedTask;

    private static LwtLeaseOptions Options(double leaseSeconds) =>
        new() { LeaseTime = TimeSpan.FromSeconds(leaseSeconds), MaxPoll = TimeSpan.FromMilliseconds(50) };

    private LwtLeaseLockProvider Provider(double leaseSeconds = 10, CqlSession? session = null) =>
        new(session ?? bed.Session, bed.Keyspace, Options(leaseSeconds));

    /// <summary>A provider whose CQL the test can time out (see <see cref="InterposedStatements"/>).</summary>
    private (LwtLeaseLockProvider Provider, InterposedStatements Cql) InterposedProvider(double leaseSeconds) =>
        InterposedStatements.Provider(bed.Session, bed.Keyspace, Options(leaseSeconds));

    // Reduced from 8 x 200: every grant costs four Paxos rounds (take, fence, confirm, release) and waiters poll,
    // so 8 x 200 would take about a minute; 8 x 25 still interleaves every client many times.
    [Fact]
    public async Task Eight_clients_each_taking_the_lease_25_times_count_to_exactly_200()
    {
        var sessions = new List<CqlSession>();
        try
        {
            for (var i = 0; i < 8; i++) sessions.Add(await bed.NewSessionAsync());
            var counter = await Counters.NewAsync(bed.Session);
            var most = await Contention.CountUnderLockAsync(sessions.Select(s => (ILockProvider)Provider(session: s)).ToList(), sessions, counter, 25, LockKey.ForInode(Guid.NewGuid()));
            Assert.Equal(200, await Counters.ReadAsync(bed.Session, counter));
            Assert.Equal(1, most);
        }
        finally
        {
            foreach (var s in sessions) await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_expired_lease_is_taken_over_and_the_old_holders_release_is_refused()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var (first, firstCql) = InterposedProvider(leaseSeconds: 2);
        var second = Provider(leaseSeconds: 10);
        var stalled = await first.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "stalled" });
        firstCql.TimeOutRenewals(int.MaxValue); // a holder that stalled: no renewal of its reaches Cassandra any more
        await using var taker = await second.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "taker", Timeout = TimeSpan.FromSeconds(15) });
        Assert.True(taker.FencingToken > stalled.FencingToken);

        await stalled.ReleaseAsync(); // DELETE ... IF owner = the stalled one: must not remove the taker's lease
        var holder = Assert.Single((await second.InspectAsync(key)).Holders);
        Assert.Equal("taker", holder.Holder.Purpose);
        Assert.Equal(taker.FencingToken, holder.FencingToken);
        Assert.True(stalled.LostToken.IsCancellationRequested, "the stalled holder was not told it had lost the lease");
        Assert.False(await second.BreakAsync(key, "not-the-owner", "wrong id"));
        Assert.Single((await second.InspectAsync(key)).Holders);
    }

    [Fact]
    public async Task Renewal_keeps_a_lease_well_past_its_time_to_live()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var holderSide = Provider(leaseSeconds: 3);
        await using var held = await holderSide.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "long job" });
        await Task.Delay(TimeSpan.FromSeconds(7));
        var e = await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await Provider().AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromMilliseconds(500) }));
        Assert.Equal("long job", Assert.Single(e.Holders).Holder.Purpose);
        Assert.Equal(LockState.Held, held.State);
    }

    [Fact]
    public async Task A_read_request_takes_the_lease_exclusively()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var provider = Provider();
        await using var reader = await provider.AcquireAsync(new LockRequest(key, LockMode.Read));
        await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromMilliseconds(300) }));
    }

    [Fact]
    public async Task Breaking_a_lease_tells_its_holder_Lost_at_its_next_renewal()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var provider = Provider(leaseSeconds: 2);
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        var id = Assert.Single((await provider.InspectAsync(key)).Holders).Id;
        Assert.True(await provider.BreakAsync(key, id, "test"));
        await Contention.Within(Task.Delay(Timeout.Infinite, held.LostToken).ContinueWith(_ => true, TaskScheduler.Default), 5, "holder told Lost");
        Assert.Equal(LockState.Lost, held.State);
        await using var next = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromSeconds(2) });
        Assert.True(next.FencingToken > held.FencingToken);
        var listed = new List<LockInfo>();
        await foreach (var info in provider.ListAsync(key.Value)) listed.Add(info);
        Assert.Equal(next.FencingToken, Assert.Single(Assert.Single(listed).Holders).FencingToken);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_lease_insert_that_timed_out_is_settled_by_a_serial_read_without_waiting_for_expiry(bool appliedBeforeTheTimeout)
    {
        // The client timeout is made by the test, between the provider and its session, around a real INSERT: applied = the server took it and the answer was lost
        // (a SERIAL read must find our owner id: we hold it); not applied = nothing reached the server (we must insert
        // again). Either way the acquire succeeds at once: it neither waits for its own lease to expire nor holds two.
        var key = LockKey.ForInode(Guid.NewGuid());
        var (provider, cql) = InterposedProvider(leaseSeconds: 30);
        cql.TimeOutInserts(appliedBeforeTheTimeout);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "unknown outcome", Timeout = TimeSpan.FromSeconds(10) });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(1, cql.InsertsTimedOut);
        var holder = Assert.Single((await provider.InspectAsync(key)).Holders);
        Assert.Equal("unknown outcome", holder.Holder.Purpose);
        Assert.Equal(held.FencingToken, holder.FencingToken);
        await held.ReleaseAsync();
        Assert.Empty((await provider.InspectAsync(key)).Holders);
    }

    [Fact]
    public async Task Renewals_that_time_out_make_the_holder_Suspended_then_Held_again_or_Lost_once_the_lease_may_have_ended()
    {
        var key = LockKey.ForInode(Guid.NewGuid());
        var (provider, cql) = InterposedProvider(leaseSeconds: 3);
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        var seen = new System.Collections.Concurrent.ConcurrentQueue<LockState>();
        var back = new TaskCompletionSource();
        held.StateChanged += (_, s) =>
        {
            seen.Enqueue(s);
            if (s == LockState.Held) back.TrySetResult();
        };
        cql.TimeOutRenewals(1);
        await Contention.Within(back.Task, 10, "Held again after one failed renewal");
        Assert.Equal(new[] { LockState.Suspended, LockState.Held }, seen.ToArray());

        cql.TimeOutRenewals(1000); // Cassandra unreachable for longer than the lease
        await Contention.Within(Task.Delay(Timeout.Infinite, held.LostToken).ContinueWith(_ => true, TaskScheduler.Default), 10, "Lost once the lease may have ended");
        Assert.Equal(LockState.Lost, held.State);
        cql.TimeOutRenewals(0);
        await held.ReleaseAsync();
    }
}
