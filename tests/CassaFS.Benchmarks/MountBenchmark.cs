using System.Diagnostics;
using System.Globalization;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.Benchmarks;

/// <summary>
/// The FUSE mount (suite "mount"): dd-style sequential write and read of a file through a mount daemon running as its
/// own process, beside the raw CQL ceiling and the library-level figure measured in the same run; metadata rates
/// (create/stat/remove of many files, 8 at a time) through the mount beside the library's; the daemon's peak RSS
/// (VmHWM) while writing. Options: --size-mib N (1024), --files N (10000), --rounds N (3).
/// </summary>
internal sealed class MountBenchmark : IBenchmark
{
    private const int Parallelism = 8;

    public string Name => "mount";

    public string Description => "FUSE mount: dd write/read of 1 GiB vs raw CQL and library, mdtest-like metadata, daemon peak RSS";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var sizeMib = BenchmarkOptions.Int(args, "--size-mib", 1024);
        var files = BenchmarkOptions.Int(args, "--files", 10_000);
        var rounds = BenchmarkOptions.Int(args, "--rounds", 3);
        var allMet = false;
        var dll = await Daemon.CliAsync(ct);
        await Prerequisites.EnsureFuseAsync(Console.WriteLine, ct);
        await using var servers = await BenchmarkServers.StartAsync("bench-mount", ct);
        var keyspace = $"bench_mount_{Guid.NewGuid().ToString("N")[..8]}";
        var chroot = $"/bench-mount-{keyspace}";
        var options = new CqlSessionOptions();
        options.ContactPoints.Add(servers.Cassandra);
        await using var session = await CqlSession.ConnectAsync(options, ct);
        await using (var root = await ZooKeeperClient.ConnectAsync(servers.ZooKeeper, ct: ct)) await root.EnsurePathAsync(chroot, ct);
        await using var zk = await ZooKeeperClient.ConnectAsync(servers.ZooKeeper + chroot, ct: ct);
        await Schema.FormatAsync(session, new FormatOptions { Keyspace = keyspace }, ct);
        var mountPoint = Directory.CreateTempSubdirectory("cassafs-bench-mount-").FullName;
        var source = Path.Combine(Path.GetTempPath(), $"cassafs-bench-{Guid.NewGuid():N}.bin");
        try
        {
            Console.WriteLine($"== sequential {sizeMib} MiB, {rounds} rounds of raw, library and mount in turn (block size {FormatOptions.DefaultBlockSize / 1024} KiB, Cassandra {servers.Cassandra}, ZooKeeper {servers.ZooKeeper})");
            Console.WriteLine("   Each phase starts on empty block tables with the machine quiet; the verdict compares medians, so that one");
            Console.WriteLine("   phase slowed by a neighbour on this shared machine does not decide it.");
            await Daemon.Shell($"head -c {(long)sizeMib * 1048576} /dev/urandom > '{source}'", ct);
            var environment = new Dictionary<string, string>
            {
                ["CASSAFS_CONTACT_POINTS"] = servers.Cassandra,
                ["CASSAFS_ZOOKEEPER"] = servers.ZooKeeper + chroot,
                ["CASSAFS_KEYSPACE"] = keyspace,
                ["CASSAFS_STATE_DIR"] = mountPoint + ".state",
            };
            using var daemon = await Daemon.StartAsync(dll, mountPoint, environment, ct);
            try
            {
                var raw = new Figures();
                var library = new Figures();
                var mount = new Figures();
                long peakRss = 0;
                for (var round = 1; round <= rounds; round++)
                {
                    await Quiet.SettleAsync(ct);
                    raw.Add(await RawCeiling.BlocksAsync(session, keyspace, FormatOptions.DefaultBlockSize, sizeMib, ct, Quiet.SettleAsync));
                    await Quiet.SettleAsync(ct);
                    await using (var client = await CassaFileSystem.OpenAsync(session, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk) }, ct))
                        library.Add(await LibrarySequential.MeasureAsync(client, sizeMib, 4 * 1048576, Quiet.SettleAsync, ct));
                    await RawCeiling.ClearBlocksAsync(session, keyspace, ct);
                    await Quiet.SettleAsync(ct);
                    var clock = Stopwatch.StartNew();
                    await Daemon.Shell($"dd if='{source}' of='{mountPoint}/seq.bin' bs=4M status=none", ct);
                    var written = sizeMib * 1.048576 / clock.Elapsed.TotalSeconds;
                    peakRss = Daemon.PeakRss(daemon.Id);
                    await Quiet.SettleAsync(ct);
                    // The kernel keeps the pages dd wrote (the mount keeps them across opens while the file is unchanged): drop
                    // this file's (fadvise DONTNEED), so that this read comes from Cassandra, as the raw one does. Dropping
                    // every cache instead would also make Cassandra's sstables cold for this read only.
                    await Daemon.Shell($"dd if='{mountPoint}/seq.bin' iflag=nocache count=0 status=none", ct);
                    clock.Restart();
                    await Daemon.Shell($"dd if='{mountPoint}/seq.bin' of=/dev/null bs=4M status=none", ct);
                    mount.Add((written, sizeMib * 1.048576 / clock.Elapsed.TotalSeconds));
                    await Daemon.Shell($"cmp '{source}' '{mountPoint}/seq.bin' && rm '{mountPoint}/seq.bin'", ct);
                    await RawCeiling.ClearBlocksAsync(session, keyspace, ct);
                    Console.WriteLine($"round {round}: raw {raw.Last}, library {library.Last}, mount {mount.Last} (write / read MB/s); cmp: identical");
                }
                var (rawWrite, rawRead) = raw.Median;
                var (libWrite, libRead) = library.Median;
                var (mountWrite, mountRead) = mount.Median;
                allMet = mountWrite >= 0.8 * rawWrite && mountRead >= 0.8 * rawRead && peakRss <= 200L * 1048576;
                Console.WriteLine("medians:");
                Console.WriteLine($"raw CQL ceiling     write {rawWrite,8:F1} MB/s   read {rawRead,8:F1} MB/s   ({Parallelism} block statements in flight, QUORUM)");
                Console.WriteLine($"library             write {libWrite,8:F1} MB/s   read {libRead,8:F1} MB/s   ({libWrite / rawWrite:P0} / {libRead / rawRead:P0} of raw)");
                Console.WriteLine($"mount (dd bs=4M)    write {mountWrite,8:F1} MB/s   read {mountRead,8:F1} MB/s   ({mountWrite / rawWrite:P0} / {mountRead / rawRead:P0} of raw; target >= 80%: " +
                                  $"{Daemon.Verdict(mountWrite >= 0.8 * rawWrite)} / {Daemon.Verdict(mountRead >= 0.8 * rawRead)})");
                Console.WriteLine($"daemon peak RSS while writing {sizeMib} MiB ({rounds} times): {peakRss / 1048576.0:F0} MB (target <= 200 MB: {Daemon.Verdict(peakRss <= 200L * 1048576)})");

                Console.WriteLine();
                Console.WriteLine($"== metadata, {files} files, {Parallelism} at a time in {Parallelism} directories");
                // One directory per worker, as mdtest -u: the kernel serialises creates and unlinks within one directory
                // (the VFS holds the parent's lock exclusively), whatever the filesystem does.
                var dirs = Enumerable.Range(0, Parallelism).Select(w => Path.Combine(mountPoint, "md", $"w{w}")).ToArray();
                foreach (var d in dirs) Directory.CreateDirectory(d);
                var names = Enumerable.Range(0, files).Select(i => Path.Combine(dirs[i % Parallelism], $"f{i}")).ToArray();
                var create = await RateAsync(names, n => File.Create(n).Dispose(), ct);
                var stat = await RateAsync(names, n => _ = new FileInfo(n).Length, ct);
                var remove = await RateAsync(names, File.Delete, ct);
                Console.WriteLine($"mount    create {create,8:F0}/s   stat {stat,8:F0}/s   remove {remove,8:F0}/s");
                await using var fs = await CassaFileSystem.OpenAsync(session, new FileSystemOptions { Keyspace = keyspace, Locks = new ZooKeeperLockProvider(zk) }, ct);
                var libDir = await fs.MkdirAsync(Inode.RootId, "md-lib", 0x1ED, Caller.Root, ct);
                var libNames = Enumerable.Range(0, files).Select(i => $"f{i}").ToArray();
                var libCreate = await RateAsync(libNames, async n => await fs.ReleaseAsync((await fs.CreateAsync(libDir.Id, n, 0x1A4, OpenFlags.WriteOnly, Caller.Root, ct)).Handle, ct), ct);
                var libStat = await RateAsync(libNames, async n => await fs.LookupAsync(libDir.Id, n, Caller.Root, ct), ct);
                var libRemove = await RateAsync(libNames, async n => await fs.UnlinkAsync(libDir.Id, n, Caller.Root, ct), ct);
                Console.WriteLine($"library  create {libCreate,8:F0}/s   stat {libStat,8:F0}/s   remove {libRemove,8:F0}/s   (mount = {create / libCreate:P0} / {stat / libStat:P0} / {remove / libRemove:P0} of library)");
            }
            finally
            {
                await Daemon.Shell($"fusermount3 -u -z '{mountPoint}' 2>/dev/null; true", CancellationToken.None);
                await daemon.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
            }
        }
        finally
        {
            File.Delete(source);
            Directory.Delete(mountPoint);
            await session.ExecuteAsync(new SimpleStatement($"DROP KEYSPACE {keyspace}"), CancellationToken.None);
        }
        Console.WriteLine(allMet ? "every sequential target met" : "a sequential target was not met (exit 1)");
        return allMet ? 0 : 1;
    }

    /// <summary>Write and read rates of one subject over the rounds.</summary>
    private sealed class Figures
    {
        private readonly List<(double Write, double Read)> _rounds = [];

        public void Add((double Write, double Read) figures) => _rounds.Add(figures);

        public string Last => $"{_rounds[^1].Write:F0} / {_rounds[^1].Read:F0}";

        public (double Write, double Read) Median => (Daemon.Median(_rounds.Select(r => r.Write)), Daemon.Median(_rounds.Select(r => r.Read)));

    }

    private static async Task<double> RateAsync(IReadOnlyList<string> items, Func<string, ValueTask> operation, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (n, _) => await operation(n));
        return items.Count / clock.Elapsed.TotalSeconds;
    }

    private static Task<double> RateAsync(IReadOnlyList<string> items, Action<string> operation, CancellationToken ct) =>
        RateAsync(items, n =>
        {
            operation(n);
            return ValueTask.CompletedTask;
        }, ct);
}
