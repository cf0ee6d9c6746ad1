using System.Net;
using CassaFS.Testing;

namespace CassaFS.LocalServers.Tests;

public class SharedServerTests
{
    [Fact]
    public async Task The_run_Cassandra_answers_a_CQL_OPTIONS_request()
    {
        var endpoint = IPEndPoint.Parse(await TestServers.CassandraAsync());
        Assert.True(await Probes.CqlAnswersAsync(endpoint));
    }

    [Fact]
    public async Task The_run_ZooKeeper_reports_standalone_mode()
    {
        var endpoint = IPEndPoint.Parse(await TestServers.ZooKeeperAsync());
        Assert.Equal("standalone", await Probes.ZooKeeperModeAsync(endpoint));
    }

    [Fact]
    public async Task A_closed_port_is_not_reported_as_an_answering_server()
    {
        var port = Loopback.FreePorts(1)[0];
        Assert.False(await Probes.CqlAnswersAsync(new IPEndPoint(IPAddress.Loopback, port)));
        Assert.Null(await Probes.ZooKeeperModeAsync(new IPEndPoint(IPAddress.Loopback, port)));
    }

    [Fact]
    public void Free_ports_are_distinct_and_bindable_on_every_requested_address()
    {
        var ports = Loopback.FreePorts(5, Loopback.Node(1), Loopback.Node(2), Loopback.Node(3));
        Assert.Equal(5, ports.Distinct().Count());
        foreach (var port in ports)
        foreach (var n in new[] { 1, 2, 3 })
        {
            using var listener = new System.Net.Sockets.TcpListener(Loopback.Node(n), port);
            listener.Start();
        }
    }
}
