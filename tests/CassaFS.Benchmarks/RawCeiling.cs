using System.Diagnostics;
using CassaFS.Cql;

namespace CassaFS.Benchmarks;

/// <summary>What Cassandra itself does with a filesystem's blocks, the ceiling the fs and mount suites compare with.</summary>
internal static class RawCeiling
{
    /// <summary>Blocks in flight, the same as the filesystem's default <see cref="FileSystemOptions.BlocksInFlight"/>.</summary>
    public const int BlocksInFlight = 8;

    /// <summary>MB/s inserting then selecting <paramref name="sizeMib"/> MiB of blocks straight into the filesystem's blocks table, at QUORUM; <paramref name="settle"/> runs between the two; the blocks are cleared after.</summary>
    public static async Task<(double Write, double Read)> BlocksAsync(CqlSession session, string ks, int blockSize, int sizeMib, CancellationToken ct, Func<CancellationToken, Task>? settle = null)
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
        if (settle is not null) await settle(ct);
        clock.Restart();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel,
            async (i, c) => await session.ExecuteAsync(select.Bind(id, (long)i).WithConsistency(Consistency.Quorum), c));
        var read = sizeMib * 1.048576 / clock.Elapsed.TotalSeconds;
        await ClearBlocksAsync(session, ks, ct);
        return (write, read);
    }

    /// <summary>
    /// Empties the blocks tables (no file may still hold blocks), so that the next phase writes into empty tables
    /// instead of beside a gigabyte Cassandra is still flushing and compacting.
    /// </summary>
    public static async Task ClearBlocksAsync(CqlSession session, string ks, CancellationToken ct)
    {
        foreach (var table in new[] { "blocks", "block_index" })
        {
            // TRUNCATE flushes first and may outlast the client's request timeout; it is idempotent, so ask again.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await session.ExecuteAsync(new SimpleStatement($"TRUNCATE {ks}.{table}"), ct);
                    break;
                }
                catch (CqlClientTimeoutException) when (attempt < 5)
                {
                }
            }
        }
    }
}
