using CassaFS.Testing;

namespace CassaFS.LocalServers.Tests;

public class EnsembleTests
{
    [Fact]
    public async Task A_three_server_ZooKeeper_ensemble_elects_one_leader_and_is_torn_down_cleanly()
    {
        IReadOnlyList<ZooKeeperServer> servers;
        await using (var run = await TestServers.OwnRunAsync("ensemble-test"))
        {
            servers = await run.StartZooKeeperEnsembleAsync(3);
            Assert.Equal(new[] { "127.0.0.1", "127.0.0.2", "127.0.0.3" }, servers.Select(s => s.Options.Address.ToString()));
            var modes = await Task.WhenAll(servers.Select(s => s.ModeAsync()));
            Assert.Equal(1, modes.Count(m => m == "leader"));
            Assert.Equal(2, modes.Count(m => m == "follower"));

            // Losing the leader leaves a quorum of two, which elects a new leader.
            var leader = servers[Array.IndexOf(modes, "leader")];
            leader.Kill();
            var rest = servers.Where(s => s != leader).ToList();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            string?[] after;
            do
            {
                await Task.Delay(200);
                after = await Task.WhenAll(rest.Select(s => s.ModeAsync()));
            } while (!after.Contains("leader") && DateTime.UtcNow < deadline);
            Assert.Contains("leader", after);
        }
        Assert.All(servers, s => Assert.False(s.IsRunning));
    }
}
