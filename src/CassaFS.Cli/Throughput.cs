using System.Buffers;
using System.Diagnostics;

namespace CassaFS.Cli;

/// <summary>The `cassafs bench` measurements: sequential write/read and create/stat/remove rates.</summary>
public static class Throughput
{
    private const int Chunk = 1 << 20;

    /// <summary>Through a directory (a mount): dd-style 1 MiB writes and reads of one file, then many small files.</summary>
    public static async Task DirectoryAsync(string directory, int sizeMib, int files, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(output);
        var file = Path.Combine(directory, $"bench-{Guid.NewGuid():N}.bin");
        var data = RandomChunk();
        var sw = Stopwatch.StartNew();
        await using (var s = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
        {
            for (int i = 0; i < sizeMib; i++)
            {
                await s.WriteAsync(data, ct).ConfigureAwait(false);
                Progress(output, "write", i + 1, sizeMib);
            }
        }
        var write = sizeMib / sw.Elapsed.TotalSeconds;
        sw.Restart();
        var buffer = new byte[Chunk];
        await using (var s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous))
        {
            while (await s.ReadAsync(buffer, ct).ConfigureAwait(false) > 0)
            {
            }
        }
        var read = sizeMib / sw.Elapsed.TotalSeconds;
        File.Delete(file);
        await output.WriteLineAsync($"sequential write {write,8:F1} MiB/s   read {read,8:F1} MiB/s   ({sizeMib} MiB, 1 MiB blocks)").ConfigureAwait(false);

        var dir = Path.Combine(directory, $"bench-md-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var names = Enumerable.Range(0, files).Select(i => Path.Combine(dir, $"f{i}")).ToArray();
        var create = await RateAsync(names, n => File.WriteAllBytes(n, []), ct).ConfigureAwait(false);
        var stat = await RateAsync(names, n => _ = new FileInfo(n).Length, ct).ConfigureAwait(false);
        var remove = await RateAsync(names, File.Delete, ct).ConfigureAwait(false);
        Directory.Delete(dir);
        await output.WriteLineAsync($"metadata: create {create,8:F0}/s   stat {stat,8:F0}/s   remove {remove,8:F0}/s   ({files} files, 8 threads)").ConfigureAwait(false);
    }

    /// <summary>Through the library, no kernel in between.</summary>
    public static async Task LibraryAsync(CassaFileSystem fs, int sizeMib, int files, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(fs);
        ArgumentNullException.ThrowIfNull(output);
        var data = RandomChunk();
        var caller = Caller.Root;
        var name = $"bench-{Guid.NewGuid():N}.bin";
        var sw = Stopwatch.StartNew();
        var (handle, inode) = await fs.CreateAsync(Inode.RootId, name, 0x1A4, OpenFlags.WriteOnly, caller, ct).ConfigureAwait(false);
        for (int i = 0; i < sizeMib; i++)
        {
            await fs.WriteAsync(handle, (long)i * Chunk, data, ct).ConfigureAwait(false);
            Progress(output, "write", i + 1, sizeMib);
        }
        await fs.ReleaseAsync(handle, ct).ConfigureAwait(false);
        var write = sizeMib / sw.Elapsed.TotalSeconds;
        sw.Restart();
        var reader = await fs.OpenAsync(inode.Id, OpenFlags.ReadOnly, caller, ct).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(Chunk);
        long offset = 0;
        int got;
        while ((got = await fs.ReadAsync(reader, offset, buffer.AsMemory(0, Chunk), ct).ConfigureAwait(false)) > 0) offset += got;
        ArrayPool<byte>.Shared.Return(buffer);
        await fs.ReleaseAsync(reader, ct).ConfigureAwait(false);
        var read = sizeMib / sw.Elapsed.TotalSeconds;
        await fs.UnlinkAsync(Inode.RootId, name, caller, ct).ConfigureAwait(false);
        await output.WriteLineAsync($"library sequential write {write,8:F1} MiB/s   read {read,8:F1} MiB/s   ({sizeMib} MiB)").ConfigureAwait(false);

        var dirName = $"bench-md-{Guid.NewGuid():N}";
        var dir = await fs.MkdirAsync(Inode.RootId, dirName, 0x1ED, caller, ct).ConfigureAwait(false);
        var names = Enumerable.Range(0, files).Select(i => $"f{i}").ToArray();
        var create = await RateAsync(names, n => fs.MknodAsync(dir.Id, n, FileType.Regular, 0x1A4, 0, caller, ct), ct).ConfigureAwait(false);
        var stat = await RateAsync(names, n => fs.LookupAsync(dir.Id, n, caller, ct), ct).ConfigureAwait(false);
        var remove = await RateAsync(names, n => fs.UnlinkAsync(dir.Id, n, caller, ct), ct).ConfigureAwait(false);
        await fs.RmdirAsync(Inode.RootId, dirName, caller, ct).ConfigureAwait(false);
        await output.WriteLineAsync($"library metadata: create {create,8:F0}/s   stat {stat,8:F0}/s   remove {remove,8:F0}/s   ({files} files, 8 at a time)").ConfigureAwait(false);
    }

    private static byte[] RandomChunk()
    {
        var data = new byte[Chunk];
        Random.Shared.NextBytes(data);
        return data;
    }

    private static void Progress(TextWriter output, string what, int done, int total)
    {
        if (done % 64 == 0 || done == total) Console.Error.Write($"\r{what} {done}/{total} MiB   {(done == total ? "\n" : "")}");
    }

    /// <summary>Operations per second with 8 in flight.</summary>
    public static async Task<double> RateAsync(IReadOnlyList<string> items, Func<string, Task> operation, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (n, _) => await operation(n).ConfigureAwait(false)).ConfigureAwait(false);
        return items.Count / sw.Elapsed.TotalSeconds;
    }

    private static Task<double> RateAsync(IReadOnlyList<string> items, Action<string> operation, CancellationToken ct) =>
        RateAsync(items, n =>
        {
            operation(n);
            return Task.CompletedTask;
        }, ct);
}
