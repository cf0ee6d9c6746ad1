using System.Diagnostics;

namespace CassaFS.Locks.Tests;

[Collection(TestBedGroup.Name)]
public sealed class ProcessTests(TestBed bed)
{
    [Fact]
    public async Task Four_processes_each_entering_the_zookeeper_mutex_100_times_count_to_exactly_400()
    {
        var counter = await Counters.NewAsync(bed.Session);
        var key = LockKey.ForInode(Guid.NewGuid()).Value;
        var workers = Enumerable.Range(0, 4).Select(_ => RunWorkerAsync(bed.ZooKeeper, bed.Cassandra, bed.Keyspace, counter, key, 100)).ToList();
        var results = await Task.WhenAll(workers);
        foreach (var (code, output) in results) Assert.True(code == 0, $"worker failed ({code}): {output}");
        Assert.Equal(400, await Counters.ReadAsync(bed.Session, counter));
    }

    private static async Task<(int Code, string Output)> RunWorkerAsync(params object[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        start.ArgumentList.Add(Program.ZooKeeperMutexWorker);
        foreach (var a in args) start.ArgumentList.Add(Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture)!);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
