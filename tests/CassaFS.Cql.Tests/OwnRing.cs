using System.Diagnostics;
using CassaFS.LocalServers;
using CassaFS.Testing;

namespace CassaFS.Cql.Tests;

/// <summary>A three-node ring this test project owns, so tests may stop, kill and restart its nodes.</summary>
public sealed class OwnRing : IAsyncLifetime
{
    private LocalRun? _run;

    public IReadOnlyList<CassandraNode> Nodes { get; private set; } = Array.Empty<CassandraNode>();
    public LocalRun Run => _run!;

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync("cql-ring");
        Nodes = await _run.StartCassandraRingAsync(3);
    }

    public async Task DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync();
    }

    /// <summary>Restarts any node an earlier test left stopped or killed.</summary>
    public async Task EnsureAllRunningAsync()
    {
        foreach (var node in Nodes)
        {
            if (!node.IsRunning) await StartAsync(node);
        }
    }

    /// <summary>
    /// Starts a node and waits until it answers CQL. LocalServers can report "exited during start-up" while the JVM
    /// is in fact coming up (its liveness check reads /proc/pid/cmdline, which is briefly empty around exec);
    /// then this waits for the native port itself.
    /// </summary>
    public static async Task StartAsync(CassandraNode node)
    {
        try
        {
            await node.StartAsync();
        }
        catch (LocalServersException) when (node.IsRunning)
        {
            await EventuallyAsync(async () =>
            {
                using var probe = new System.Net.Sockets.TcpClient();
                try
                {
                    await probe.ConnectAsync(node.NativeEndpoint);
                    return true;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    return false;
                }
            }, 120, $"{node.Name} answering on {node.ContactPoint}");
        }
    }

    public static void Signal(CassandraNode node, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {node.Pid}");
        kill.WaitForExit();
        if (signal == "STOP") UntilStopped(node.Pid!.Value);
    }

    /// <summary>
    /// A stop signal takes effect as each of the JVM's threads next runs, so on a busy machine a request sent right
    /// after kill(1) returned could still be answered: wait until every thread shows stopped ('T' in /proc).
    /// </summary>
    private static void UntilStopped(int pid)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!Directory.EnumerateDirectories($"/proc/{pid}/task").All(task => StateOf(Path.Combine(task, "stat")) is 'T' or 'Z' or 'X' or null))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"process {pid} did not stop within 10 s of SIGSTOP");
            Thread.Sleep(5);
        }
    }

    /// <summary>The state letter of /proc/.../stat (after the parenthesised command name), or null once the task is gone.</summary>
    private static char? StateOf(string statPath)
    {
        try
        {
            var stat = File.ReadAllText(statPath);
            return stat[(stat.LastIndexOf(')') + 2)];
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Retries until <paramref name="condition"/> holds, failing after <paramref name="seconds"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, int seconds, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"{what} did not happen within {seconds} s");
            await Task.Delay(250);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class OwnRingGroup : ICollectionFixture<OwnRing>
{
    public const string Name = "own ring";
}
