using System.Diagnostics;
using System.Globalization;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.Benchmarks;

/// <summary>
/// The filesystem library against the raw CQL ceiling, same run, same servers, same in-flight count:
/// sequential write/read, create/stat/unlink, rename of a large vs an empty directory, peak memory writing 1 GiB.
/// </summary>
internal sealed class FileSystemBenchmark : IBenchmark
{
    public string Name => "fs";
    public string Description => "filesystem library vs raw CQL: throughput, metadata ops/s, rename cost, memory  [--size-mib 256] [--files 10000] [--block-kib 1024,512,256] [--memory-gib 1]";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var sizeMib = BenchmarkOptions.Int(args, "--size-mib", 256);
        var files = BenchmarkOptions.Int(args, "--files", 10_000);
        var memoryGib = BenchmarkOptions.Int(args, "--memory-gib", 1);
        var blockSizes = (BenchmarkOptions.Text(args, "--block-kib") ?? "1024,512,256").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture) * 1024).ToArray();

        await using var servers = await BenchmarkServers.StartAsync("bench-fs", ct);
        Console.WriteLine($"servers: Cassandra {servers.Cassandra}, ZooKeeper {servers.ZooKeeper}; machine: {Environment.ProcessorCount} cores");
        var options = new CqlSessionOptions();
        options.ContactPoints.Add(servers.Cassandra);
        await using var session = await CqlSession.ConnectAsync(options, ct);
        await using var zk = await ZooKeeperClient.ConnectAsync(servers.ZooKeeper, null, ct);

        Console.WriteLine();
        Console.WriteLine($"== sequential write and read of {sizeMib} MiB (1 MiB calls; 8 blocks in flight; target: library >= 80% of raw)");
        Console.WriteLine($"{"block",8} {"raw write",12} {"fs write",12} {"ratio",7} {"raw read",12} {"fs read",12} {"ratio",7}");
        foreach (var blockSize in blockSizes)
        {
            await using var bed = await Bed.CreateAsync(session, zk, blockSize, ct);
            var (rawWrite, rawRead) = await RawCeiling.BlocksAsync(session, bed.Keyspace, blockSize, sizeMib, ct, Quiet.SettleAsync);
            await Quiet.SettleAsync(ct);
            var (fsWrite, fsRead) = await LibrarySequential.MeasureAsync(bed.Fs, sizeMib, 1048576, Quiet.SettleAsync, ct);
            await RawCeiling.ClearBlocksAsync(session, bed.Keyspace, ct);
            Console.WriteLine($"{blockSize / 1024,6}Ki {rawWrite,8:F1} MB/s {fsWrite,8:F1} MB/s {fsWrite / rawWrite,6:P0} {rawRead,8:F1} MB/s {fsRead,8:F1} MB/s {fsRead / rawRead,6:P0}");
        }

        await using (var bed = await Bed.CreateAsync(session, zk, FormatOptions.DefaultBlockSize, ct))
        {
            Console.WriteLine();
            Console.WriteLine($"== create, stat, unlink of {files} files, 16 at a time (target: library >= 1/3 of raw LWT+insert)");
            var raw = await RawCreatesAsync(session, bed.Keyspace, files, ct);
            var (create, stat, unlink) = await LibraryMetadataAsync(bed.Fs, files, ct);
            Console.WriteLine($"raw LWT entry + inode insert: {raw,8:F0} ops/s");
            Console.WriteLine($"library create:               {create,8:F0} ops/s  ({create / raw:F2} of raw)");
            Console.WriteLine($"library stat (lookup):        {stat,8:F0} ops/s");
            Console.WriteLine($"library unlink:               {unlink,8:F0} ops/s");

            Console.WriteLine();
            Console.WriteLine("== rename of a directory with 10k descendants vs an empty one (target: within 1.2x)");
            var (empty, full) = await RenameCostAsync(session, bed, ct);
            Console.WriteLine($"empty directory: {empty,7:F2} ms per rename; 10k descendants: {full,7:F2} ms per rename; ratio {full / empty:F2}");
        }

        await using (var bed = await Bed.CreateAsync(session, zk, FormatOptions.DefaultBlockSize, ct))
        {
            Console.WriteLine();
            Console.WriteLine($"== peak memory while writing {memoryGib} GiB (block size {FormatOptions.DefaultBlockSize / 1024} KiB)");
            var (peakRss, peakHeap, seconds) = await PeakMemoryAsync(bed.Fs, memoryGib, ct);
            Console.WriteLine($"wrote {memoryGib} GiB in {seconds:F1} s; peak RSS {peakRss / 1048576.0:F0} MB (process, includes the runtime); peak managed heap {peakHeap / 1048576.0:F0} MB");
        }
        return 0;
    }

    private static async Task<double> RawCreatesAsync(CqlSession session, string ks, int files, CancellationToken ct)
    {
        var entry = await session.PrepareAsync($"INSERT INTO {ks}.entries (dir, name, inode, type) VALUES (?, ?, ?, ?) IF NOT EXISTS", ct);
        var inode = await session.PrepareAsync($"INSERT INTO {ks}.inodes (id, type, mode, uid, gid, nlink, size, atime, mtime, ctime, fence) VALUES (?, ?, 420, 0, 0, 1, 0, 0, 0, 0, 0)", ct);
        var dir = Guid.NewGuid();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, files), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (i, c) =>
        {
            var id = Guid.NewGuid();
            await session.ExecuteAsync(inode.Bind(id, (int)FileType.Regular), c);
            await session.ExecuteConditionalAsync(entry.Bind(dir, $"f{i}", id, (int)FileType.Regular), c);
        });
        return files / clock.Elapsed.TotalSeconds;
    }

    private static async Task<(double Create, double Stat, double Unlink)> LibraryMetadataAsync(CassaFileSystem fs, int files, CancellationToken ct)
    {
        var dir = await fs.MkdirAsync(Inode.RootId, "meta", 0x1ED, Caller.Root, ct);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct };
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, files), parallel, async (i, c) => await fs.MknodAsync(dir.Id, $"f{i}", FileType.Regular, 0x1A4, 0, Caller.Root, c));
        var create = files / clock.Elapsed.TotalSeconds;
        clock.Restart();
        await Parallel.ForEachAsync(Enumerable.Range(0, files), parallel, async (i, c) => await fs.LookupAsync(dir.Id, $"f{i}", Caller.Root, c));
        var stat = files / clock.Elapsed.TotalSeconds;
        clock.Restart();
        await Parallel.ForEachAsync(Enumerable.Range(0, files), parallel, async (i, c) => await fs.UnlinkAsync(dir.Id, $"f{i}", Caller.Root, c));
        return (create, stat, files / clock.Elapsed.TotalSeconds);
    }

    private static async Task<(double EmptyMs, double FullMs)> RenameCostAsync(CqlSession session, Bed bed, CancellationToken ct)
    {
        var fs = bed.Fs;
        var empty = await fs.MkdirAsync(Inode.RootId, "empty0", 0x1ED, Caller.Root, ct);
        var full = await fs.MkdirAsync(Inode.RootId, "full0", 0x1ED, Caller.Root, ct);
        var sub = await fs.MkdirAsync(full.Id, "sub", 0x1ED, Caller.Root, ct);
        var insert = await session.PrepareAsync($"INSERT INTO {bed.Keyspace}.entries (dir, name, inode, type) VALUES (?, ?, ?, ?)", ct);
        await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct },
            async (i, c) => await session.ExecuteAsync(insert.Bind(sub.Id, $"n{i:D5}", Guid.NewGuid(), (int)FileType.Regular), c));
        async Task<double> TimeRenames(string prefix)
        {
            const int Rounds = 30;
            await fs.RenameAsync(Inode.RootId, prefix + "0", Inode.RootId, prefix + "w", RenameFlags.None, Caller.Root, ct); // warm-up
            await fs.RenameAsync(Inode.RootId, prefix + "w", Inode.RootId, prefix + "0", RenameFlags.None, Caller.Root, ct);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < Rounds; i++)
                await fs.RenameAsync(Inode.RootId, $"{prefix}{i}", Inode.RootId, $"{prefix}{i + 1}", RenameFlags.None, Caller.Root, ct);
            return clock.Elapsed.TotalMilliseconds / Rounds;
        }
        // Interleave the two so that drift in the server's state affects both alike.
        var e1 = await TimeRenames("empty");
        var f1 = await TimeRenames("full");
        return (e1, f1);
    }

    private static async Task<(long PeakRss, long PeakHeap, double Seconds)> PeakMemoryAsync(CassaFileSystem fs, int gib, CancellationToken ct)
    {
        GC.Collect();
        var process = Process.GetCurrentProcess();
        long peakRss = 0, peakHeap = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                process.Refresh();
                peakRss = Math.Max(peakRss, process.WorkingSet64);
                peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                try { await Task.Delay(50, sampling.Token); } catch (OperationCanceledException) { }
            }
        }, CancellationToken.None);
        var chunk = new byte[1048576];
        Random.Shared.NextBytes(chunk);
        var clock = Stopwatch.StartNew();
        var (h, _) = await fs.CreateAsync(Inode.RootId, "big", 0x1A4, OpenFlags.WriteOnly, Caller.Root, ct);
        for (var i = 0; i < gib * 1024; i++) await fs.WriteAsync(h, (long)i * chunk.Length, chunk, ct);
        await fs.ReleaseAsync(h, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        await sampling.CancelAsync();
        await sampler;
        return (peakRss, peakHeap, seconds);
    }

    /// <summary>A freshly formatted filesystem in its own keyspace, mounted with ZooKeeper locks in its own chroot.</summary>
    private sealed class Bed : IAsyncDisposable
    {
        private readonly CqlSession _session;

        private Bed(CqlSession session, string keyspace, CassaFileSystem fs)
        {
            _session = session;
            Keyspace = keyspace;
            Fs = fs;
        }

        public string Keyspace { get; }
        public CassaFileSystem Fs { get; }

        public static async Task<Bed> CreateAsync(CqlSession session, ZooKeeperClient zk, int blockSize, CancellationToken ct)
        {
            var keyspace = $"bench_fs_{Guid.NewGuid().ToString("N")[..8]}";
            await Schema.FormatAsync(session, new FormatOptions { Keyspace = keyspace, BlockSize = blockSize }, ct);
            var fs = await CassaFileSystem.OpenAsync(session, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk, $"/bench-locks-{keyspace}") }, ct);
            return new Bed(session, keyspace, fs);
        }

        public async ValueTask DisposeAsync()
        {
            await Fs.DisposeAsync();
            await _session.ExecuteAsync(new SimpleStatement($"DROP KEYSPACE {Keyspace}"));
        }
    }
}
