using System.Diagnostics;
using CassaFS.Cql;

namespace CassaFS.Benchmarks;

/// <summary>What Cassandra itself does with a filesystem's blocks, the ceiling the fs and mount suites compare with.</summary>
internal static class RawCeiling
{
    /// <summary>Blocks in flight, the same as the filesystem's default <see cref="MountOptions.BlocksInFlight"/>.</summary>
    public const int BlocksInFlight = 8;

    /// <summary>MB/s inserting then selecting <paramref name="sizeMib"/> MiB of blocks straight into the filesystem's blocks table, at QUORUM.</summary>
    public static async Task<(double Write, double Read)> BlocksAsync(CqlSession session, string ks, int blockSize, int sizeMib, CancellationToken ct)
    {
        var insert = await session.PrepareAsync($"INSERT INTO {ks}.blocks (inode, idx, data) VALUES (?, ?, ?)", ct);
        var select = await session.PrepareAsync($"SELECT data FROM {ks}.blocks WHERE inode = ? AND idx = ?", ct);
        var id = Guid.NewGuid();
        var data = new byte[blockSize];
        Random.Shared.NextBytes(data);
        var count = (int)((long)sizeMib * 1048576 / blockSize);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = BlocksInFlight, CancellationToken = ct };
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel,
            async (i, c) => await session.ExecuteAsync(insert.Bind(id, (long)i, data).WithConsistency(Consistency.Quorum), c));
        var write = sizeMib * 1.048576 / clock.Elapsed.TotalSeconds;
        clock.Restart();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel,
            async (i, c) => await session.ExecuteAsync(select.Bind(id, (long)i).WithConsistency(Consistency.Quorum), c));
        return (write, sizeMib * 1.048576 / clock.Elapsed.TotalSeconds);
    }
}
