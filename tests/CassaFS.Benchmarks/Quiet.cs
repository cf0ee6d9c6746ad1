using System.Diagnostics;
using System.Globalization;

namespace CassaFS.Benchmarks;

/// <summary>
/// Waits for the machine to go quiet between phases: Cassandra flushes and compacts what one phase wrote while the
/// next runs, so without this each phase would pay for the one before it and the first (the raw ceiling) would be
/// the only one measured on a quiet server.
/// </summary>
internal static class Quiet
{
    private const double BusyBelow = 0.2;

    /// <summary>As <see cref="WaitAsync"/>, for phases that do not print.</summary>
    public static Task SettleAsync(CancellationToken ct) => WaitAsync(ct);

    /// <summary>Returns once two half-second samples in a row find the CPUs less than 20% busy, or after <paramref name="limit"/>; says how long it took.</summary>
    public static async Task<string> WaitAsync(CancellationToken ct, TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        var deadline = limit ?? TimeSpan.FromSeconds(60);
        var calm = 0;
        var before = Sample();
        while (clock.Elapsed < deadline && calm < 2)
        {
            await Task.Delay(500, ct);
            var now = Sample();
            var total = now.Total - before.Total;
            var busy = total == 0 ? 0 : (double)(now.Busy - before.Busy) / total;
            calm = busy < BusyBelow ? calm + 1 : 0;
            before = now;
        }
        return calm >= 2 ? $"quiet after {clock.Elapsed.TotalSeconds:F1} s" : $"still busy after {clock.Elapsed.TotalSeconds:F0} s";
    }

    /// <summary>Busy and total jiffies of all CPUs from /proc/stat (busy: user, nice, system, irq, softirq, steal).</summary>
    private static (long Busy, long Total) Sample()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var idle = fields[3] + fields[4];
        var total = fields.Take(8).Sum();
        return (total - idle, total);
    }
}
