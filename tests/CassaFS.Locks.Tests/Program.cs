using CassaFS.Cql;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>
/// Entry point of this test assembly when run with <c>dotnet exec</c>: a lock worker in a process of its own, so
/// that mutual exclusion is checked between processes, not only between tasks of one process.
/// </summary>
public static class Program
{
    public const string ZooKeeperMutexWorker = "zookeeper-mutex";

    public static async Task<int> Main(string[] args)
    {
        if (args is not [ZooKeeperMutexWorker, var zooKeeper, var cassandra, var keyspace, var counter, var key, var sections])
        {
            await Console.Error.WriteLineAsync($"usage: {ZooKeeperMutexWorker} <zookeeper/chroot> <cassandra> <keyspace> <counter> <lock key> <sections>");
            return 2;
        }
        await using var client = await ZooKeeperClient.ConnectAsync(zooKeeper);
        await using var session = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { cassandra }, Keyspace = keyspace });
        await using var locks = new ZooKeeperLockProvider(client);
        var lockKey = LockKey.Parse(key);
        for (var i = 0; i < int.Parse(sections, System.Globalization.CultureInfo.InvariantCulture); i++)
        {
            await using var held = await locks.AcquireAsync(new LockRequest(lockKey, LockMode.Write) { Purpose = "count", Timeout = TimeSpan.FromSeconds(60) });
            await Counters.IncrementAsync(session, counter);
        }
        Console.WriteLine("done");
        return 0;
    }
}
