using System.Diagnostics;

namespace CassaFS.LocalServers.Tests;

public class ReapingTests
{
    [Fact]
    public async Task Servers_of_a_test_run_killed_midway_are_reaped_when_the_next_run_starts()
    {
        // A real test host (the README's test command in --serve mode) starts its servers and is then SIGKILLed,
        // so it cannot stop them: they are orphans until the next run reaps them.
        using var child = StartTestHostServing();
        var runDirectory = await WaitForRunOfAsync(child);
        var pids = Directory.GetFiles(runDirectory, "server.pid", SearchOption.AllDirectories)
            .Select(f => (Pid: int.Parse(File.ReadAllText(f)), State: Path.GetDirectoryName(f)!)).ToList();
        Assert.Equal(2, pids.Count);
        child.Kill(entireProcessTree: false);
        await child.WaitForExitAsync();
        Assert.All(pids, p => Assert.True(IsAlive(p.Pid), "the servers outlive their killed owner"));

        await using (await LocalRun.CreateAsync("next-run"))
        {
            Assert.All(pids, p => Assert.False(IsAlive(p.Pid), $"server {p.Pid} should have been reaped"));
            Assert.All(pids, p => Assert.False(Directory.Exists(Path.Combine(p.State, "data")) || Directory.Exists(Path.Combine(p.State, "zkdata"))));
        }
    }

    private static Process StartTestHostServing()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var dll = Path.Combine(root, "tests", "CassaFS.TestHost", "bin", configuration, "net10.0", "CassaFS.TestHost.dll");
        Assert.True(File.Exists(dll), $"the test host should have been built at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = root };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("--serve");
        return Process.Start(psi)!;
    }

    private static async Task<string> WaitForRunOfAsync(Process child)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        while (await child.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (!line.StartsWith("export CASSAFS_TEST_ZOOKEEPER=", StringComparison.Ordinal)) continue;
            var mine = Directory.GetDirectories(Paths.RunsRoot).Single(d => File.Exists(Path.Combine(d, "owner")) &&
                File.ReadAllText(Path.Combine(d, "owner")).StartsWith($"{child.Id} ", StringComparison.Ordinal));
            return mine;
        }
        throw new InvalidOperationException("the test host ended before serving");
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z";
}
