using System.CommandLine;
using System.Net;
using CassaFS.LocalServers;

namespace CassaFS.Cli;

/// <summary>`cassafs demo`: brings up local servers and shows CassaFS working on them.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Start a local Cassandra and ZooKeeper, show that both answer, and stop them.");
        command.SetAction(async (_, ct) => await RunAsync(ct).ConfigureAwait(false));
        return command;
    }

    private static async Task<int> RunAsync(CancellationToken ct)
    {
        await using var run = await LocalRun.CreateAsync("demo", Say, ct).ConfigureAwait(false);
        var cassandra = run.StartCassandraAsync(ct: ct);
        var zookeeper = run.StartZooKeeperAsync(ct: ct);
        var node = await cassandra.ConfigureAwait(false);
        var zk = await zookeeper.ConfigureAwait(false);
        Say($"Cassandra answers CQL: {await Probes.CqlAnswersAsync(node.NativeEndpoint, ct).ConfigureAwait(false)}");
        Say($"ZooKeeper mode: {await Probes.ZooKeeperModeAsync(IPEndPoint.Parse(zk.ConnectString), ct).ConfigureAwait(false)}");
        Say("stopping the servers");
        return 0;
    }

    private static void Say(string message) => Console.WriteLine($"[demo] {message}");
}
