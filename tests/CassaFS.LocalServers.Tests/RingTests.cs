using System.Net;
using CassaFS.Cql;
using CassaFS.Testing;

namespace CassaFS.LocalServers.Tests;

public class RingTests
{
    [Fact]
    public async Task A_three_node_Cassandra_ring_forms_on_three_loopback_addresses_and_is_torn_down_cleanly()
    {
        IReadOnlyList<CassandraNode> nodes;
        await using (var run = await TestServers.OwnRunAsync("ring-test"))
        {
            nodes = await run.StartCassandraRingAsync(3);
            Assert.Equal(new[] { "127.0.0.1", "127.0.0.2", "127.0.0.3" }, nodes.Select(n => n.Options.Address.ToString()));
            foreach (var node in nodes)
            {
                var others = nodes.Where(n => n != node).Select(n => n.Options.Address).OrderBy(a => a.ToString()).ToList();
                Assert.Equal(others, await PeersSeenByAsync(node, others.Count));
            }
        }
        Assert.All(nodes, n => Assert.False(n.IsRunning));
    }

    /// <summary>system.peers as one node sees it (gossip needs a moment after start-up to list everyone).</summary>
    private static async Task<List<IPAddress>> PeersSeenByAsync(CassandraNode node, int expected)
    {
        await using var session = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { node.ContactPoint }, DiscoverPeers = false });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var rows = await session.ExecuteAsync("SELECT peer FROM system.peers");
            var peers = rows.Select(r => r.Get<IPAddress>("peer")).OrderBy(a => a.ToString()).ToList();
            if (peers.Count >= expected || DateTime.UtcNow > deadline) return peers;
            await Task.Delay(250);
        }
    }
}
