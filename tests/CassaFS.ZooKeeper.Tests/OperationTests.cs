using System.Text;

namespace CassaFS.ZooKeeper.Tests;

public sealed class OperationTests
{
    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Created_node_reads_back_its_data_and_stat_and_setData_bumps_the_version()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("ops"));
        var (path, created) = await zk.CreateWithStatAsync("/node", Bytes("one"));
        Assert.Equal("/node", path);
        Assert.Equal(0, created.Version);

        var (data, stat) = await zk.GetDataAsync("/node");
        Assert.Equal("one", Encoding.UTF8.GetString(data));
        Assert.Equal(created.CreatedZxid, stat.CreatedZxid);
        Assert.False(stat.IsEphemeral);

        var updated = await zk.SetDataAsync("/node", Bytes("two"), version: 0);
        Assert.Equal(1, updated.Version);
        Assert.Equal("two", Encoding.UTF8.GetString((await zk.GetDataAsync("/node")).Data));
        Assert.True(updated.ModifiedZxid > created.ModifiedZxid);
        Assert.True(zk.LastZxid >= updated.ModifiedZxid);
    }

    [Fact]
    public async Task Exists_returns_null_for_a_missing_node_and_the_stat_for_a_present_one()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("ops"));
        Assert.Null(await zk.ExistsAsync("/missing"));
        await zk.CreateAsync("/present", Bytes("x"));
        var stat = await zk.ExistsAsync("/present");
        Assert.NotNull(stat);
        Assert.Equal(1, stat.DataLength);
    }

    [Fact]
    public async Task Errors_arrive_as_typed_exceptions_naming_the_path()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("ops"));
        var noNode = await Assert.ThrowsAsync<NoNodeException>(() => zk.GetDataAsync("/nothing"));
        Assert.Equal("/nothing", noNode.Path);
        Assert.Equal(ErrorCode.NoNode, noNode.Code);
        await Assert.ThrowsAsync<NoNodeException>(() => zk.CreateAsync("/no/parent", Bytes("x")));
        await Assert.ThrowsAsync<NoNodeException>(() => zk.DeleteAsync("/nothing"));

        await zk.CreateAsync("/a", Bytes("x"));
        await Assert.ThrowsAsync<NodeExistsException>(() => zk.CreateAsync("/a", Bytes("y")));

        await zk.CreateAsync("/a/b", Bytes("x"));
        var notEmpty = await Assert.ThrowsAsync<NotEmptyException>(() => zk.DeleteAsync("/a"));
        Assert.Equal("/a", notEmpty.Path);

        var badVersion = await Assert.ThrowsAsync<BadVersionException>(() => zk.SetDataAsync("/a/b", Bytes("z"), version: 7));
        Assert.Contains("/a/b", badVersion.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<BadVersionException>(() => zk.DeleteAsync("/a/b", version: 3));

        await zk.CreateAsync("/eph", Bytes("x"), CreateMode.Ephemeral);
        await Assert.ThrowsAsync<NoChildrenForEphemeralsException>(() => zk.CreateAsync("/eph/child", Bytes("x")));
    }

    [Fact]
    public async Task Delete_with_the_current_version_removes_the_node()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("ops"));
        await zk.CreateAsync("/gone", Bytes("x"));
        await zk.SetDataAsync("/gone", Bytes("y"));
        await zk.DeleteAsync("/gone", version: 1);
        Assert.Null(await zk.ExistsAsync("/gone"));
    }

    [Fact]
    public async Task Sequential_nodes_get_increasing_ten_digit_suffixes_and_the_created_path_is_returned()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("seq"));
        await zk.CreateAsync("/lock", ReadOnlyMemory<byte>.Empty);
        var prefix = $"/lock/{Guid.NewGuid():N}-lock-";
        var first = await zk.CreateAsync(prefix, Bytes("a"), CreateMode.EphemeralSequential);
        var second = await zk.CreateAsync(prefix, Bytes("b"), CreateMode.EphemeralSequential);
        var third = await zk.CreateAsync("/lock/p-", Bytes("c"), CreateMode.PersistentSequential);
        Assert.Equal(prefix + "0000000000", first);
        Assert.Equal(prefix + "0000000001", second);
        Assert.Equal("/lock/p-0000000002", third);

        var (children, stat) = await zk.GetChildrenAsync("/lock");
        Assert.Equal(3, children.Count);
        Assert.Equal(3, stat.ChildrenCount);
        Assert.Contains(first["/lock/".Length..], children);
        Assert.True((await zk.ExistsAsync(first))!.IsEphemeral);
        Assert.Equal(zk.SessionId, (await zk.ExistsAsync(second))!.EphemeralOwner);
    }

    [Fact]
    public async Task Ephemeral_node_is_gone_once_its_session_is_closed()
    {
        var target = await Sessions.FreshChrootAsync("eph");
        await using var observer = await Sessions.ConnectAsync(target);
        var owner = await Sessions.ConnectAsync(target);
        await owner.CreateAsync("/held", Bytes("x"), CreateMode.Ephemeral);
        Assert.NotNull(await observer.ExistsAsync("/held"));
        await owner.DisposeAsync();
        Assert.Null(await observer.ExistsAsync("/held"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => owner.ExistsAsync("/held"));
    }

    [Fact]
    public async Task Chroot_prefixes_paths_on_the_way_out_and_strips_them_on_the_way_back()
    {
        var servers = await Sessions.FreshChrootAsync("chroot");
        var chroot = servers[servers.IndexOf('/', StringComparison.Ordinal)..];
        var plain = servers[..servers.IndexOf('/', StringComparison.Ordinal)];
        await using var rooted = await Sessions.ConnectAsync(servers);
        await using var unrooted = await Sessions.ConnectAsync(plain);
        Assert.Equal(chroot, rooted.Chroot);

        var created = await rooted.CreateAsync("/seq-", Bytes("x"), CreateMode.PersistentSequential);
        Assert.StartsWith("/seq-", created, StringComparison.Ordinal);
        Assert.NotNull(await unrooted.ExistsAsync(chroot + created));
        Assert.Contains(created[1..], (await rooted.GetChildrenAsync("/")).Children);

        var fired = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await rooted.GetDataAsync(created, e => fired.TrySetResult(e));
        await unrooted.SetDataAsync(chroot + created, Bytes("y"));
        var e = await Sessions.Within(fired.Task, 10, "data watch under chroot");
        Assert.Equal(created, e.Path);

        var results = await rooted.MultiAsync(new[] { Op.Create("/in-multi", Bytes("m")) });
        Assert.Equal("/in-multi", Assert.IsType<CreateResult>(results[0]).Path);
    }

    [Fact]
    public async Task Multi_commits_every_operation_together()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("multi"));
        await zk.CreateAsync("/old", Bytes("x"));
        await zk.CreateAsync("/counter", Bytes("1"));
        var results = await zk.MultiAsync(new[]
        {
            Op.Create("/new", Bytes("n")),
            Op.Create("/new/seq-", Bytes("s"), CreateMode.PersistentSequential),
            Op.Delete("/old", 0),
            Op.Check("/counter", 0),
            Op.SetData("/counter", Bytes("2"), 0),
        });
        Assert.Equal("/new", Assert.IsType<CreateResult>(results[0]).Path);
        Assert.Equal("/new/seq-0000000000", Assert.IsType<CreateResult>(results[1]).Path);
        Assert.IsType<DeleteResult>(results[2]);
        Assert.IsType<CheckResult>(results[3]);
        Assert.Equal(1, Assert.IsType<SetDataResult>(results[4]).Stat.Version);
        Assert.Null(await zk.ExistsAsync("/old"));
        Assert.Equal("2", Encoding.UTF8.GetString((await zk.GetDataAsync("/counter")).Data));
    }

    [Fact]
    public async Task Multi_with_a_failing_operation_applies_none_and_names_the_failure()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("multi"));
        await zk.CreateAsync("/taken", Bytes("x"));
        var e = await Assert.ThrowsAsync<NodeExistsException>(() => zk.MultiAsync(new[]
        {
            Op.Create("/fresh", Bytes("f")),
            Op.SetData("/taken", Bytes("changed")),
            Op.Create("/taken", Bytes("again")),
            Op.Delete("/taken"),
        }));
        Assert.Equal(2, e.FailedOperationIndex);
        Assert.Equal("/taken", e.Path);
        Assert.NotNull(e.MultiResults);
        Assert.Equal(4, e.MultiResults.Count);
        Assert.Equal(ErrorCode.NodeExists, Assert.IsType<ErrorResult>(e.MultiResults[2]).Error);
        Assert.Null(await zk.ExistsAsync("/fresh"));
        Assert.Equal("x", Encoding.UTF8.GetString((await zk.GetDataAsync("/taken")).Data));

        var check = await Assert.ThrowsAsync<BadVersionException>(() => zk.MultiAsync(new[] { Op.Check("/taken", 5), Op.Delete("/taken") }));
        Assert.Equal(0, check.FailedOperationIndex);
        Assert.NotNull(await zk.ExistsAsync("/taken"));
    }

    [Fact]
    public async Task Sync_completes_and_a_read_after_it_sees_a_write_from_another_session()
    {
        var target = await Sessions.FreshChrootAsync("sync");
        await using var writer = await Sessions.ConnectAsync(target);
        await using var reader = await Sessions.ConnectAsync(target);
        await writer.CreateAsync("/synced", Bytes("v"));
        await reader.SyncAsync("/synced");
        Assert.Equal("v", Encoding.UTF8.GetString((await reader.GetDataAsync("/synced")).Data));
    }

    [Fact]
    public async Task Digest_acl_denies_other_sessions_until_they_add_the_credentials()
    {
        var target = await Sessions.FreshChrootAsync("acl");
        await using var owner = await Sessions.ConnectAsync(target);
        await owner.AddAuthAsync("digest", "alice:secret");
        await owner.CreateAsync("/private", Bytes("hidden"), CreateMode.Persistent, Acl.CreatorAll);
        var acl = await owner.GetAclAsync("/private");
        Assert.Equal(Acl.Digest("alice", "secret", Permissions.All), Assert.Single(acl.Acl));

        await using var stranger = await Sessions.ConnectAsync(target);
        var denied = await Assert.ThrowsAsync<NoAuthException>(() => stranger.GetDataAsync("/private"));
        Assert.Equal("/private", denied.Path);
        Assert.DoesNotContain("secret", denied.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NoAuthException>(() => stranger.SetDataAsync("/private", Bytes("mine")));
        await stranger.AddAuthAsync("digest", "mallory:guess");
        await Assert.ThrowsAsync<NoAuthException>(() => stranger.GetDataAsync("/private"));
        await stranger.AddAuthAsync("digest", "alice:secret");
        Assert.Equal("hidden", Encoding.UTF8.GetString((await stranger.GetDataAsync("/private")).Data));

        await owner.SetAclAsync("/private", new[] { Acl.Digest("alice", "secret", Permissions.All), new Acl(Permissions.Read, "world", "anyone") });
        await using var reader = await Sessions.ConnectAsync(target);
        Assert.Equal("hidden", Encoding.UTF8.GetString((await reader.GetDataAsync("/private")).Data));
        await Assert.ThrowsAsync<NoAuthException>(() => reader.SetDataAsync("/private", Bytes("overwrite")));
        await Assert.ThrowsAsync<InvalidAclException>(() => reader.CreateAsync("/malformed", Bytes("x"), CreateMode.Persistent, new[] { new Acl(Permissions.All, "digest", "no-hash") }));
    }

    [Fact]
    public async Task EnsurePath_and_recursive_create_and_delete_handle_whole_trees()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("tree"));
        await zk.EnsurePathAsync("/a/b/c");
        await zk.EnsurePathAsync("/a/b/c");
        Assert.NotNull(await zk.ExistsAsync("/a/b/c"));
        var leaf = await zk.CreateRecursiveAsync("/x/y/z", Bytes("leaf"));
        Assert.Equal("/x/y/z", leaf);
        await zk.DeleteRecursiveAsync("/a");
        Assert.Null(await zk.ExistsAsync("/a"));
        Assert.NotNull(await zk.ExistsAsync("/x/y/z"));
    }

    [Fact]
    public async Task Many_concurrent_requests_each_get_their_own_reply()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("fifo"));
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => zk.CreateAsync($"/n{i}", Bytes(i.ToString()))));
        var reads = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => zk.GetDataAsync($"/n{i}")));
        for (var i = 0; i < 200; i++) Assert.Equal(i.ToString(), Encoding.UTF8.GetString(reads[i].Data));
    }

    [Fact]
    public async Task Invalid_paths_are_rejected_before_anything_is_sent()
    {
        await using var zk = await Sessions.ConnectAsync(await Sessions.FreshChrootAsync("path"));
        await Assert.ThrowsAsync<ArgumentException>(() => zk.CreateAsync("relative", Bytes("x")));
        await Assert.ThrowsAsync<ArgumentException>(() => zk.CreateAsync("/trailing/", Bytes("x")));
        await Assert.ThrowsAsync<ArgumentException>(() => zk.GetDataAsync("/a//b"));
        await Assert.ThrowsAsync<ArgumentException>(() => zk.ExistsAsync("/a/../b"));
    }
}
