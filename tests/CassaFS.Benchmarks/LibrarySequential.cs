using System.Diagnostics;

namespace CassaFS.Benchmarks;

/// <summary>The library's own sequential figure, the one the raw ceiling and the mount are set beside.</summary>
internal static class LibrarySequential
{
    /// <summary>
    /// MB/s writing (up to fsync and release) then reading back <paramref name="sizeMib"/> MiB in calls of
    /// <paramref name="chunkBytes"/>; <paramref name="settle"/> runs between the two; the file is removed after.
    /// </summary>
    public static async Task<(double Write, double Read)> MeasureAsync(CassaFileSystem fs, int sizeMib, int chunkBytes, Func<CancellationToken, Task> settle, CancellationToken ct)
    {
        var chunk = new byte[chunkBytes];
        Random.Shared.NextBytes(chunk);
        var total = (long)sizeMib * 1048576;
        var name = $"library-seq-{Guid.NewGuid():N}";
        var clock = Stopwatch.StartNew();
        var (h, _) = await fs.CreateAsync(Inode.RootId, name, 0x1A4, OpenFlags.WriteOnly, Caller.Root, ct);
        for (long at = 0; at < total; at += chunk.Length) await fs.WriteAsync(h, at, chunk.AsMemory(0, (int)Math.Min(chunk.Length, total - at)), ct);
        await fs.FsyncAsync(h, ct);
        await fs.ReleaseAsync(h, ct);
        var write = total / 1e6 / clock.Elapsed.TotalSeconds;
        await settle(ct);
        clock.Restart();
        var r = await fs.OpenAsync(h.Inode, OpenFlags.ReadOnly, Caller.Root, ct);
        long read = 0;
        for (long at = 0; at < total; at += chunk.Length) read += await fs.ReadAsync(r, at, chunk, ct);
        await fs.ReleaseAsync(r, ct);
        var readRate = total / 1e6 / clock.Elapsed.TotalSeconds;
        if (read != total) throw new InvalidOperationException($"read {read} bytes back, expected {total}");
        await fs.UnlinkAsync(Inode.RootId, name, Caller.Root, ct);
        return (write, readRate);
    }
}
