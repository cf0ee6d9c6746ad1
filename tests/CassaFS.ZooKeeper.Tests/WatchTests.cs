using System.Collections.Concurrent;
using System.Text;

namespace CassaFS.ZooKeeper.Tests;

public sealed class WatchTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task A_data_watch_fires_once_even_when_the_node_changes_twice()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        await using var zk = await Sessions.ConnectAsync(target);
        await using var other = await Sessions.ConnectAsync(target);
        await zk.CreateAsync("/w", Bytes("0"));
        var events = new ConcurrentQueue<WatchedEvent>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.GetDataAsync("/w", e => { events.Enqueue(e); first.TrySetResult(); });

        await other.SetDataAsync("/w", Bytes("1"));
        await other.SetDataAsync("/w", Bytes("2"));
        await Sessions.Within(first.Task.ContinueWith(_ => true, TaskScheduler.Default), 10, "data watch");
        // a later event on the same session proves nothing else was queued for the spent watch
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.ExistsAsync("/marker", _ => marker.TrySetResult());
        await other.CreateAsync("/marker", Bytes("m"));
        await Sessions.Within(marker.Task.ContinueWith(_ => true, TaskScheduler.Default), 10, "marker watch");

        var e = Assert.Single(events);
        Assert.Equal(new WatchedEvent(WatchEventType.NodeDataChanged, KeeperState.SyncConnected, "/w"), e);
    }

    [Fact]
    public async Task Watches_fire_in_the_order_the_changes_were_made()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        await using var zk = await Sessions.ConnectAsync(target);
        await using var other = await Sessions.ConnectAsync(target);
        var order = new ConcurrentQueue<string>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Record(WatchedEvent e)
        {
            order.Enqueue($"{e.Type} {e.Path}");
            if (order.Count == 5) all.TrySetResult();
        }
        for (var i = 0; i < 3; i++) await zk.CreateAsync($"/n{i}", Bytes("x"));
        for (var i = 0; i < 3; i++) await zk.GetDataAsync($"/n{i}", Record);
        await zk.GetChildrenAsync("/", Record);
        await zk.ExistsAsync("/later", Record);

        await other.SetDataAsync("/n2", Bytes("y"));
        await other.DeleteAsync("/n0");
        await other.CreateAsync("/later", Bytes("z"));
        await other.SetDataAsync("/n1", Bytes("y"));
        await Sessions.Within(all.Task.ContinueWith(_ => true, TaskScheduler.Default), 10, "five watch events");

        Assert.Equal(new[]
        {
            "NodeDataChanged /n2",
            "NodeDeleted /n0",
            "NodeChildrenChanged /",
            "NodeCreated /later",
            "NodeDataChanged /n1",
        }, order.ToArray());
    }

    [Fact]
    public async Task An_exists_watch_on_a_missing_node_fires_on_its_creation_and_a_child_watch_on_a_new_child()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        await using var zk = await Sessions.ConnectAsync(target);
        await using var other = await Sessions.ConnectAsync(target);
        var created = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.Null(await zk.ExistsAsync("/parent", e => created.TrySetResult(e)));
        await other.CreateAsync("/parent", Bytes("p"));
        Assert.Equal(WatchEventType.NodeCreated, (await Sessions.Within(created.Task, 10, "exists watch")).Type);

        var child = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.Empty((await zk.GetChildrenAsync("/parent", e => child.TrySetResult(e))).Children);
        await other.CreateAsync("/parent/kid", Bytes("k"), CreateMode.Ephemeral);
        var e = await Sessions.Within(child.Task, 10, "child watch");
        Assert.Equal(new WatchedEvent(WatchEventType.NodeChildrenChanged, KeeperState.SyncConnected, "/parent"), e);
    }

    [Fact]
    public async Task Awaitable_watches_complete_on_the_change_they_wait_for()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        await using var zk = await Sessions.ConnectAsync(target);
        await using var other = await Sessions.ConnectAsync(target);
        await other.CreateAsync("/predecessor", Bytes("p"), CreateMode.Ephemeral);
        await zk.CreateAsync("/data", Bytes("d"));

        var (stat, gone) = await zk.ExistsWithWatchAsync("/predecessor");
        var (node, edited) = await zk.GetDataWithWatchAsync("/data");
        var (children, grown) = await zk.GetChildrenWithWatchAsync("/data");
        Assert.NotNull(stat);
        Assert.Equal("d", Encoding.UTF8.GetString(node.Data));
        Assert.Empty(children.Children);
        Assert.False(gone.IsCompleted || edited.IsCompleted || grown.IsCompleted);

        await other.DisposeAsync(); // its ephemeral node goes with its session
        Assert.Equal(new WatchedEvent(WatchEventType.NodeDeleted, KeeperState.SyncConnected, "/predecessor"), await Sessions.Within(gone, 10, "predecessor gone"));
        await zk.CreateAsync("/data/child", Bytes("c"));
        Assert.Equal(WatchEventType.NodeChildrenChanged, (await Sessions.Within(grown, 10, "child added")).Type);
        await zk.SetDataAsync("/data", Bytes("e"));
        Assert.Equal(WatchEventType.NodeDataChanged, (await Sessions.Within(edited, 10, "data edited")).Type);
    }

    [Fact]
    public async Task A_slow_watch_callback_does_not_hold_up_replies()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        await using var zk = await Sessions.ConnectAsync(target);
        await zk.CreateAsync("/slow", Bytes("0"));
        using var release = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.GetDataAsync("/slow", _ => { entered.TrySetResult(); release.Wait(TimeSpan.FromSeconds(20)); });
        await zk.SetDataAsync("/slow", Bytes("1"));
        await Sessions.Within(entered.Task.ContinueWith(_ => true, TaskScheduler.Default), 10, "callback start");
        // the callback is still blocked, yet requests keep completing
        Assert.NotNull(await Sessions.Within(zk.ExistsAsync("/slow"), 5, "a reply while a callback blocks"));
        release.Set();
    }

    [Fact]
    public async Task Closing_the_client_fires_outstanding_watches_with_state_Closed()
    {
        var target = await Sessions.FreshChrootAsync("watch");
        var zk = await Sessions.ConnectAsync(target);
        var fired = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await zk.ExistsAsync("/never", e => fired.TrySetResult(e));
        await zk.DisposeAsync();
        var e = await Sessions.Within(fired.Task, 5, "closed watch");
        Assert.Equal(new WatchedEvent(WatchEventType.None, KeeperState.Closed, null), e);
        Assert.Equal(ConnectionState.Closed, zk.State);
    }
}
