using System.Diagnostics;
using CassaFS.Testing;

namespace CassaFS.ZooKeeper.Tests;

public sealed class ConnectTests
{
    [Fact]
    public async Task Connecting_reports_Connected_and_a_negotiated_session()
    {
        var states = new StateLog();
        await using var zk = await Sessions.ConnectAsync(await TestServers.ZooKeeperAsync(), TimeSpan.FromSeconds(8), states.Record);
        await states.WaitAsync(ConnectionState.Connected, 5);
        Assert.NotEqual(0, zk.SessionId);
        Assert.Equal(16, zk.SessionPassword.Length);
        Assert.Equal(TimeSpan.FromSeconds(8), zk.SessionTimeout);
        Assert.Equal(ConnectionState.Connected, zk.State);
        Assert.Equal(await TestServers.ZooKeeperAsync(), zk.ConnectedServer);
    }

    [Fact]
    public async Task Unreachable_servers_give_an_error_naming_every_host_tried()
    {
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<ZooKeeperUnreachableException>(() => ZooKeeperClient.ConnectAsync(
            "127.0.0.1:1,127.0.0.2:1/chroot", new ZooKeeperClientOptions { ConnectTimeout = TimeSpan.FromSeconds(2) }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"gave up after {clock.Elapsed}");
        Assert.Equal(new[] { "127.0.0.1:1", "127.0.0.2:1" }, e.ServersTried.Order().ToArray());
        Assert.Contains("127.0.0.1:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.2:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("refused", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("a:1", null, "a", 1)]
    [InlineData("a:1,b:2/cassafs", "/cassafs", "b", 2)]
    [InlineData("a,b:2/x/y/", "/x/y", "b", 2)]
    [InlineData("[::1]:2182/", null, "::1", 2182)]
    public void Connect_strings_parse_into_servers_and_chroot(string text, string? chroot, string lastHost, int lastPort)
    {
        var parsed = ConnectString.Parse(text);
        Assert.Equal(chroot, parsed.Chroot);
        Assert.Equal((lastHost, lastPort), parsed.Servers[^1]);
        if (!text.StartsWith('[')) Assert.Equal(("a", text.StartsWith("a:1", StringComparison.Ordinal) ? 1 : 2181), parsed.Servers[0]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/only-chroot")]
    [InlineData("host:notaport")]
    [InlineData("host:2181/bad//chroot")]
    public void Malformed_connect_strings_are_rejected(string text) =>
        Assert.ThrowsAny<ArgumentException>(() => ConnectString.Parse(text));
}
