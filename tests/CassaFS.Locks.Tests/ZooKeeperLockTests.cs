using System.Collections.Concurrent;
using CassaFS.Cql;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

[Collection(TestBedGroup.Name)]
public sealed class ZooKeeperLockTests(TestBed bed)
{
    private static LockKey NewKey() => LockKey.ForInode(Guid.NewGuid());

    private async Task<(ZooKeeperLockProvider Provider, ZooKeeperClient Client)> NewProviderAsync(TimeSpan? sessionTimeout = null)
    {
        var client = await bed.NewZooKeeperAsync(sessionTimeout);
        return (new ZooKeeperLockProvider(client), client);
    }

    private static async Task<List<string>> ChildrenAsync(ZooKeeperClient client, LockKey key)
    {
        try
        {
            return (await client.GetChildrenAsync($"/locks/{key.NodeName}")).Children.ToList();
        }
        catch (NoNodeException)
        {
            return new List<string>();
        }
    }

    [Fact]
    public async Task Eight_clients_each_entering_the_mutex_200_times_count_to_exactly_1600()
    {
        var clients = new List<ZooKeeperClient>();
        var sessions = new List<CqlSession>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                clients.Add(await bed.NewZooKeeperAsync());
                sessions.Add(await bed.NewSessionAsync());
            }
            var counter = await Counters.NewAsync(bed.Session);
            var most = await Contention.CountUnderLockAsync(clients.Select(c => (ILockProvider)new ZooKeeperLockProvider(c)).ToList(), sessions, counter, 200, NewKey());
            Assert.Equal(1600, await Counters.ReadAsync(bed.Session, counter));
            Assert.Equal(1, most);
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
            foreach (var s in sessions) await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task Waiters_are_granted_in_queue_order_and_each_release_wakes_only_the_next_waiter()
    {
        // Each waiter locks through a provider of its own (on one client), whose ZooKeeper operations the test
        // watches: its listings and the watches that woke it are that waiter's.
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var key = NewKey();
        var first = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "first" });
        var granted = new ConcurrentQueue<int>();
        var releaseNext = new SemaphoreSlim(0);
        var waiters = new List<Task<string>>();
        var observed = new List<InterposedNodes>();
        for (var i = 0; i < 5; i++)
        {
            var index = i;
            var (own, nodes) = InterposedNodes.Provider(client);
            observed.Add(nodes);
            waiters.Add(Task.Run(async () =>
            {
                var held = await own.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = $"waiter {index}" });
                granted.Enqueue(index);
                await releaseNext.WaitAsync();
                var name = ((ZooKeeperLock)held).OwnNodeName!;
                await held.ReleaseAsync();
                return name;
            }));
            // queue them one by one so the expected order is known
            await Contention.UntilAsync(async () => (await provider.InspectAsync(key)).Waiters.Count == index + 1, 10, $"waiter {index} queued");
        }
        var names = (await provider.InspectAsync(key)).Waiters.Select(w => w.Id).ToList();
        await first.ReleaseAsync();
        for (var i = 0; i < 5; i++)
        {
            await Contention.UntilAsync(() => Task.FromResult(granted.Count == i + 1), 10, $"grant {i}");
            // every waiter behind the one just granted has been woken zero times
            for (var later = i + 1; later < 5; later++)
                Assert.Equal(0, observed[later].WakeUps);
            releaseNext.Release();
        }
        Assert.Equal(names, await Task.WhenAll(waiters)); // waiter i held the i-th node in the queue
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, granted.ToArray());
        foreach (var nodes in observed)
        {
            Assert.Equal(1, nodes.WakeUps); // its one predecessor went, once
            Assert.Equal(2, nodes.Listings); // on arrival and after that one wake-up
        }
        Assert.Empty(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task A_create_whose_reply_is_lost_after_the_server_applied_it_is_found_again_by_its_guid_and_leaves_no_orphan()
    {
        // The client cannot drop a reply on demand, so the test, between the provider and its client, does the create
        // for real and then throws ConnectionLoss as the client would if the connection died before the reply. The
        // recipe must find the node by its GUID (not create a second one) and use it: one child, the token is that
        // node's czxid.
        await using var client = await bed.NewZooKeeperAsync();
        var (provider, nodes) = InterposedNodes.Provider(client);
        var key = NewKey();
        nodes.LoseCreateReplies(LostReply.AfterApplied);
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        Assert.Equal(1, nodes.RepliesLost);
        var children = await ChildrenAsync(client, key);
        var only = Assert.Single(children);
        Assert.Equal(((ZooKeeperLock)held).OwnNodeName, only);
        Assert.Equal(nodes.LostNode, only); // found again, not made a second time (and the first deleted as an orphan)
        var stat = await client.ExistsAsync($"/locks/{key.NodeName}/{only}");
        Assert.Equal(stat!.CreatedZxid, held.FencingToken);
        await held.ReleaseAsync();
        Assert.Empty(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task A_fresh_lock_is_made_with_its_parent_in_one_transaction_granted_without_a_listing_and_excludes_like_any_other()
    {
        await using var client = await bed.NewZooKeeperAsync();
        var (provider, nodes) = InterposedNodes.Provider(client);
        var key = NewKey();
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Fresh = true });
        Assert.Equal(0, nodes.Listings);
        var only = Assert.Single(await ChildrenAsync(client, key));
        Assert.Equal(((ZooKeeperLock)held).OwnNodeName, only);
        Assert.Equal((await client.ExistsAsync($"/locks/{key.NodeName}/{only}"))!.CreatedZxid, held.FencingToken);

        // Asked for again (by a client that also thinks it fresh): its parent is there, so it queues as usual.
        await using var other = await bed.NewZooKeeperAsync();
        var second = new ZooKeeperLockProvider(other).AcquireAsync(new LockRequest(key, LockMode.Write) { Fresh = true }).AsTask();
        await Task.Delay(300);
        Assert.False(second.IsCompleted);
        await held.ReleaseAsync();
        await using var next = await second;
        Assert.True(next.FencingToken > held.FencingToken);
    }

    [Theory]
    [InlineData(LostReply.AfterApplied)]
    [InlineData(LostReply.BeforeApplied)]
    public async Task A_fresh_lock_whose_transaction_reply_is_lost_is_settled_to_exactly_one_node_of_its_own(LostReply how)
    {
        await using var client = await bed.NewZooKeeperAsync();
        var (provider, nodes) = InterposedNodes.Provider(client);
        var key = NewKey();
        nodes.LoseCreateReplies(how);
        await using (var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Fresh = true }))
        {
            Assert.Equal(1, nodes.RepliesLost);
            var only = Assert.Single(await ChildrenAsync(client, key));
            Assert.Equal(((ZooKeeperLock)held).OwnNodeName, only);
            if (how == LostReply.AfterApplied) Assert.Equal(nodes.LostNode, only); // found again, not made twice
            Assert.Equal((await client.ExistsAsync($"/locks/{key.NodeName}/{only}"))!.CreatedZxid, held.FencingToken);
        }
        Assert.Empty(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task A_create_whose_reply_is_lost_before_the_server_applied_it_is_made_again_exactly_once()
    {
        await using var client = await bed.NewZooKeeperAsync();
        var (provider, nodes) = InterposedNodes.Provider(client);
        var key = NewKey();
        nodes.LoseCreateReplies(LostReply.BeforeApplied);
        await using (var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write)))
            Assert.Single(await ChildrenAsync(client, key));
        Assert.Equal(1, nodes.RepliesLost);
        Assert.Empty(await ChildrenAsync(client, key));
    }

    [Theory]
    [InlineData(LostReply.AfterApplied)]
    [InlineData(LostReply.BeforeApplied)]
    public async Task A_release_whose_delete_reply_is_lost_deletes_again_until_sure_and_leaves_no_node(LostReply how)
    {
        // Twice in a row: after applied, the second delete finds no node (done); before applied, it deletes it.
        await using var client = await bed.NewZooKeeperAsync();
        var (provider, nodes) = InterposedNodes.Provider(client);
        var key = NewKey();
        var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        nodes.LoseDeleteReplies(how, count: 2);
        await held.ReleaseAsync();
        Assert.Equal(LockState.Released, held.State);
        Assert.Equal(how == LostReply.AfterApplied ? 1 : 2, nodes.RepliesLost);
        Assert.Empty(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task A_late_applied_duplicate_of_our_create_is_deleted_when_seen()
    {
        // The create's outcome was unknown, nothing with our GUID was found, so we created again - and then the first
        // create turns up after all. The waiter deletes that duplicate at its next listing; it never holds a place.
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var key = NewKey();
        var blocker = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        var waiting = provider.AcquireAsync(new LockRequest(key, LockMode.Write)).AsTask();
        await Contention.UntilAsync(async () => (await ChildrenAsync(client, key)).Count == 2, 10, "waiter queued");
        var waiterName = (await provider.InspectAsync(key)).Waiters.Single().Id;
        var guid = waiterName[..33];
        await client.CreateAsync($"/locks/{key.NodeName}/{guid}write-", HolderRecord.Serialize(blocker.Holder), CreateMode.EphemeralSequential);
        await blocker.ReleaseAsync();
        await using var held = await Contention.Within(waiting, 10, "grant");
        Assert.Equal(waiterName, ((ZooKeeperLock)held).OwnNodeName);
        Assert.Equal(new[] { waiterName }, await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task When_the_holders_session_expires_the_next_waiter_gets_the_lock_with_a_higher_token_and_the_holder_is_told_Lost()
    {
        var (holderProvider, holderClient) = await NewProviderAsync(TimeSpan.FromSeconds(6));
        await using var _ = holderClient;
        var (waiterProvider, waiterClient) = await NewProviderAsync();
        await using var __ = waiterClient;
        var key = NewKey();
        var held = await holderProvider.AcquireAsync(new LockRequest(key, LockMode.Write));
        var states = new ConcurrentQueue<LockState>();
        held.StateChanged += (_, s) => states.Enqueue(s);
        var waiting = waiterProvider.AcquireAsync(new LockRequest(key, LockMode.Write)).AsTask();
        await Contention.UntilAsync(async () => (await ChildrenAsync(waiterClient, key)).Count == 2, 10, "waiter queued");
        Assert.False(waiting.IsCompleted);

        // Expire the holder's session the way the server ends a session whose owner closed it: another connection
        // resumes the session with its id and password, then closes it. The holder's client may take the session back
        // in between (the server moves a session to its newest connection), so repeat until the session is gone.
        for (var attempt = 0; attempt < 20 && holderClient.State != ConnectionState.Lost; attempt++)
        {
            try
            {
                await using var thief = await ZooKeeperClient.ConnectAsync(bed.ZooKeeper, new ZooKeeperClientOptions
                {
                    SessionId = holderClient.SessionId,
                    SessionPassword = holderClient.SessionPassword,
                    SessionTimeout = TimeSpan.FromSeconds(6),
                    ConnectTimeout = TimeSpan.FromSeconds(3),
                });
            }
            catch (SessionExpiredException)
            {
                // closed by an earlier attempt
            }
            await Task.Delay(200);
        }
        var next = await Contention.Within(waiting, 10, "the waiter's grant after the holder's session ended");
        await Contention.Within(Task.Delay(Timeout.Infinite, held.LostToken).ContinueWith(_ => true, TaskScheduler.Default), 20, "the old holder learning Lost");
        Assert.Equal(LockState.Lost, held.State);
        Assert.Contains(LockState.Lost, states);
        Assert.True(next.FencingToken > held.FencingToken, $"new token {next.FencingToken} must exceed old {held.FencingToken}");
        await next.ReleaseAsync();
        await held.ReleaseAsync(); // harmless after Lost
    }

    [Fact]
    public async Task Readers_share_the_lock_while_a_writer_holds_it_alone()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        await RwLockSemantics.Readers_share_and_a_writer_waits_for_them(provider);
        Assert.Empty(await ChildrenAsync(client, LockKey.ForFileSystem("/rw/share")));
    }

    [Fact]
    public async Task A_writer_queued_behind_readers_gets_the_lock_before_readers_that_came_later()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        await RwLockSemantics.A_waiting_writer_goes_before_later_readers(provider);
    }

    [Fact]
    public async Task A_timed_out_acquire_names_the_holder_and_leaves_no_node_behind()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var key = NewKey();
        await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "rename /a /b" });
        var e = await Assert.ThrowsAsync<LockTimeoutException>(async () =>
            await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromMilliseconds(300) }));
        Assert.Contains("rename /a /b", e.Message, StringComparison.Ordinal);
        Assert.Equal("rename /a /b", Assert.Single(e.Holders).Holder.Purpose);
        Assert.Single(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task A_cancelled_acquire_deletes_its_node()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var key = NewKey();
        await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write));
        using var cts = new CancellationTokenSource();
        var waiting = provider.AcquireAsync(new LockRequest(key, LockMode.Write), cts.Token).AsTask();
        await Contention.UntilAsync(async () => (await ChildrenAsync(client, key)).Count == 2, 10, "waiter queued");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Single(await ChildrenAsync(client, key));
    }

    [Fact]
    public async Task Breaking_a_holder_records_who_broke_it_and_why_and_tells_the_holder_Lost()
    {
        var (holderProvider, holderClient) = await NewProviderAsync();
        await using var _ = holderClient;
        var (operatorProvider, operatorClient) = await NewProviderAsync();
        await using var __ = operatorClient;
        var key = NewKey();
        var held = (ZooKeeperLock)await holderProvider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "stuck writer" });
        var id = Assert.Single((await operatorProvider.InspectAsync(key)).Holders).Id;
        Assert.True(await operatorProvider.BreakAsync(key, id, "holder hung for an hour"));
        await Contention.Within(Task.Delay(Timeout.Infinite, held.LostToken).ContinueWith(_ => true, TaskScheduler.Default), 10, "holder told Lost");
        Assert.Equal(LockState.Lost, held.State);
        // The holder reads BrokenBy when its data watch fires before the delete lands; either way it says it was broken.
        Assert.Contains("broken by an operator", held.LostReason, StringComparison.Ordinal);
        Assert.False(await operatorProvider.BreakAsync(key, id, "again"));
        await using var next = await operatorProvider.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromSeconds(5) });
        Assert.True(next.FencingToken > held.FencingToken);
    }

    [Fact]
    public async Task List_and_Inspect_show_holders_and_waiters_with_their_records_for_keys_holding_slashes()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var dir = Guid.NewGuid();
        var key = LockKey.ForFileSystem($"{dir}/a/b c");
        var pathKey = LockKey.ForFileSystem($"/list-{dir:N}/x y");
        await using var reader1 = await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Purpose = "r1" });
        await using var reader2 = await provider.AcquireAsync(new LockRequest(key, LockMode.Read) { Purpose = "r2" });
        var writer = provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Purpose = "w" }).AsTask();
        await using var onPath = await provider.AcquireAsync(new LockRequest(pathKey, LockMode.Write) { Purpose = "p" });
        await Contention.UntilAsync(async () => (await provider.InspectAsync(key)).Waiters.Count == 1, 10, "writer queued");

        var info = await provider.InspectAsync(key);
        Assert.Equal(new[] { "r1", "r2" }, info.Holders.Select(h => h.Holder.Purpose));
        Assert.All(info.Holders, h => Assert.Equal(LockMode.Read, h.Mode));
        Assert.Equal("w", info.Waiters.Single().Holder.Purpose);
        Assert.Equal(provider.Owner, info.Holders[0].Holder.Owner);
        Assert.Equal(Environment.ProcessId, info.Holders[0].Holder.ProcessId);
        Assert.Equal(reader1.FencingToken, info.Holders[0].FencingToken);

        var listed = new List<LockInfo>();
        await foreach (var i in provider.ListAsync($"fs/{dir:D}%2F")) listed.Add(i);
        Assert.Equal(key, Assert.Single(listed).Key);
        listed.Clear();
        await foreach (var i in provider.ListAsync($"fs/%2Flist-{dir:N}")) listed.Add(i);
        Assert.Equal(pathKey, Assert.Single(listed).Key);

        await reader1.ReleaseAsync();
        await reader2.ReleaseAsync();
        await (await writer).ReleaseAsync();
    }

    [Fact]
    public async Task Pruning_empty_lock_parents_while_clients_lock_never_fails_a_client()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var (pruner, prunerClient) = await NewProviderAsync();
        await using var __ = prunerClient;
        var key = NewKey();
        using var stop = new CancellationTokenSource();
        var pruned = 0;
        var pruning = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) pruned += await pruner.PruneAsync();
        });
        for (var i = 0; i < 200; i++)
        {
            await using var held = await provider.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromSeconds(5) });
            Assert.Equal(LockState.Held, held.State);
        }
        await stop.CancelAsync();
        await pruning;
        Assert.True(pruned > 0, "the pruner never removed a parent, so the test proved nothing");
    }

    [Fact]
    public async Task A_holder_learns_it_is_wanted_when_someone_it_blocks_queues_behind_it_and_not_before()
    {
        var (a, aClient) = await NewProviderAsync();
        await using var _ = aClient;
        var (b, bClient) = await NewProviderAsync();
        await using var __ = bClient;
        var key = NewKey();

        // A reader is not wanted by another reader; a writer behind them wants both.
        var reader = await a.AcquireAsync(new LockRequest(key, LockMode.Read));
        var wanted = reader.ContendedToken;
        Assert.True(wanted.CanBeCanceled);
        var otherReader = await b.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromSeconds(5) });
        await Task.Delay(500);
        Assert.False(wanted.IsCancellationRequested, "a second reader does not wait for the first");
        var otherWanted = otherReader.ContendedToken;

        var writer = b.AcquireAsync(new LockRequest(key, LockMode.Write) { Timeout = TimeSpan.FromSeconds(20) }).AsTask();
        await WhenCancelledAsync("the first reader, with a writer behind it", wanted);
        await WhenCancelledAsync("the second reader (asked after the writer queued)", otherWanted);
        Assert.False(writer.IsCompleted);
        await reader.ReleaseAsync();
        await otherReader.ReleaseAsync();
        await using var held = await writer;

        // A writer is wanted by a reader behind it.
        var writerWanted = held.ContendedToken;
        await Task.Delay(300);
        Assert.False(writerWanted.IsCancellationRequested, "nobody waits yet");
        var late = a.AcquireAsync(new LockRequest(key, LockMode.Read) { Timeout = TimeSpan.FromSeconds(20) }).AsTask();
        await WhenCancelledAsync("a writer with a reader behind it", writerWanted);
        await held.ReleaseAsync();
        await (await late).ReleaseAsync();
    }

    [Fact]
    public async Task A_lock_let_go_or_lost_reads_as_wanted_so_nobody_keeps_it()
    {
        var (provider, client) = await NewProviderAsync();
        await using var _ = client;
        var released = await provider.AcquireAsync(new LockRequest(NewKey(), LockMode.Read));
        await released.ReleaseAsync();
        Assert.True(released.ContendedToken.IsCancellationRequested);

        var (other, otherClient) = await NewProviderAsync(TimeSpan.FromSeconds(4));
        var lost = await other.AcquireAsync(new LockRequest(NewKey(), LockMode.Read));
        var wanted = lost.ContendedToken;
        await otherClient.DisposeAsync();
        await WhenCancelledAsync("a lock whose client closed", wanted);
    }

    private static async Task WhenCancelledAsync(string what, CancellationToken token)
    {
        var cancelled = new TaskCompletionSource();
        await using var registration = token.Register(() => cancelled.TrySetResult());
        var finished = await Task.WhenAny(cancelled.Task, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.True(finished == cancelled.Task, $"{what}: not told it is wanted within 10 s");
    }
}
