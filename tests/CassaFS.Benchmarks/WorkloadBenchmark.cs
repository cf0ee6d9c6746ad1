using System.Diagnostics;
using System.Globalization;
using System.Text;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.ZooKeeper;

namespace CassaFS.Benchmarks;

/// <summary>
/// The small-file and random-I/O work of issue 15 (suite "workloads"), as a user runs it: through a real CassaFS mount
/// (the daemon as its own process, default options), beside a plain FUSE passthrough (Debian's bindfs over local disk,
/// installed here when missing) and the local disk itself, in turn within each round so that all three share the
/// machine's moods. Prints each round with the load average, then the medians and a verdict per target; exits 0 only
/// when every target is met. Random reads run, 1 job then 4, first on the file's pages dropped before each (fadvise
/// DONTNEED: the "cold" rows, served by the daemon), then after one sequential read of it before each (the targets: a
/// file that fits in memory, which the mount keeps in the page cache across opens while it is unchanged); random
/// writes come last. Options: --files N (1000) metadata files; --tree-files N (1000) entries of the tar tree;
/// --repo-files N (258); --io-mib N (64) random-I/O file; --seconds S (5) per random-I/O run; --rounds N (3).
/// </summary>
internal sealed class WorkloadBenchmark : IBenchmark
{
    public string Name => "workloads";

    public string Description => "issue 15 workloads through a mount vs bindfs vs local disk: metadata ops/s, tar/rm/git clone, 4K random I/O, RSS";

    private static readonly string[] Subjects = { "mount", "bindfs", "local" };

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var files = BenchmarkOptions.Int(args, "--files", 1000);
        var treeFiles = BenchmarkOptions.Int(args, "--tree-files", 1000);
        var repoFiles = BenchmarkOptions.Int(args, "--repo-files", 258);
        var ioMib = BenchmarkOptions.Int(args, "--io-mib", 64);
        var seconds = BenchmarkOptions.Int(args, "--seconds", 5);
        var rounds = BenchmarkOptions.Int(args, "--rounds", 3);

        var dll = await Daemon.CliAsync(ct);
        await Prerequisites.EnsureFuseAsync(Console.WriteLine, ct);
        await Prerequisites.EnsureCommandAsync("bindfs", "bindfs", Console.WriteLine, ct);
        await Prerequisites.EnsureCommandAsync("git", "git", Console.WriteLine, ct);
        await Prerequisites.EnsureCommandAsync("python3", "python3", Console.WriteLine, ct);
        var fsops = Path.Combine(AppContext.BaseDirectory, "Workloads", "fsops.py");

        await using var servers = await BenchmarkServers.StartAsync("bench-workloads", ct);
        var keyspace = $"bench_work_{Guid.NewGuid().ToString("N")[..8]}";
        var chroot = $"/bench-work-{keyspace}";
        var options = new CqlSessionOptions();
        options.ContactPoints.Add(servers.Cassandra);
        await using var session = await CqlSession.ConnectAsync(options, ct);
        await using (var root = await ZooKeeperClient.ConnectAsync(servers.ZooKeeper, ct: ct)) await root.EnsurePathAsync(chroot, ct);
        await Schema.FormatAsync(session, new FormatOptions { Keyspace = keyspace }, ct);

        var work = Directory.CreateTempSubdirectory("cassafs-bench-work-").FullName;
        var targets = new Dictionary<string, string>
        {
            ["mount"] = Path.Combine(work, "cassa"),
            ["bindfs"] = Path.Combine(work, "bind"),
            ["local"] = Path.Combine(work, "local"),
        };
        var bindSource = Path.Combine(work, "bind-source");
        foreach (var d in targets.Values.Append(bindSource)) Directory.CreateDirectory(d);
        Process? daemon = null;
        try
        {
            var tarball = Path.Combine(work, "tree.tar");
            var repo = Path.Combine(work, "repo");
            var treeBytes = MakeTree(Path.Combine(work, "tree"), treeFiles, seed: 1);
            await Daemon.Shell($"tar cf '{tarball}' -C '{work}' tree", ct);
            MakeTree(repo, repoFiles, seed: 2);
            await Daemon.Shell($"cd '{repo}' && git init -q && git add -A && git -c user.name=bench -c user.email=bench@local commit -qm tree", ct);

            await Daemon.Shell($"bindfs '{bindSource}' '{targets["bindfs"]}'", ct);
            daemon = await Daemon.StartAsync(dll, targets["mount"], new Dictionary<string, string>
            {
                ["CASSAFS_CONTACT_POINTS"] = servers.Cassandra,
                ["CASSAFS_ZOOKEEPER"] = servers.ZooKeeper + chroot,
                ["CASSAFS_KEYSPACE"] = keyspace,
                ["CASSAFS_STATE_DIR"] = targets["mount"] + ".state",
            }, ct);

            Console.WriteLine($"== {rounds} rounds of mount, bindfs and local disk in turn ({Environment.ProcessorCount} cores; Cassandra {servers.Cassandra}, ZooKeeper {servers.ZooKeeper})");
            Console.WriteLine($"   metadata: {files} files in one directory, one process; tar: {treeFiles} entries, {treeBytes / 1048576.0:F1} MiB; git clone: {repoFiles} files; random 4 KiB I/O on a {ioMib} MiB file, {seconds} s per run");
            var figures = new Dictionary<(string Subject, string Work), List<double>>();
            void Note(string subject, string what, double value)
            {
                if (!figures.TryGetValue((subject, what), out var list)) figures[(subject, what)] = list = new List<double>();
                list.Add(value);
            }

            for (var round = 1; round <= rounds; round++)
            {
                var line = new StringBuilder($"round {round} (load {LoadAverage()}):");
                var mountPeaks = "";
                foreach (var subject in Subjects)
                {
                    var dir = Path.Combine(targets[subject], $"r{round}");
                    Directory.CreateDirectory(dir);
                    // Where the daemon's peak resident set grows: its high-water mark after each of the mount's phases.
                    var peaks = new StringBuilder("   mount daemon VmHWM after");
                    void Peak(string phase)
                    {
                        if (subject == "mount") peaks.Append(CultureInfo.InvariantCulture, $" {phase} {Daemon.PeakRss(daemon.Id) / 1048576.0:F0} MB;");
                    }
                    await Quiet.SettleAsync(ct);
                    var meta = (await Daemon.ShellOutput($"python3 '{fsops}' meta '{dir}' {files}", ct)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    for (var i = 0; i + 1 < meta.Length; i += 2) Note(subject, meta[i], double.Parse(meta[i + 1], CultureInfo.InvariantCulture));
                    Peak("metadata");
                    Note(subject, "tar xf s", await SecondsAsync($"tar xf '{tarball}' -C '{dir}'", ct));
                    Peak("tar");
                    Note(subject, "rm -rf s", await SecondsAsync($"rm -rf '{dir}/tree'", ct));
                    Note(subject, "git clone s", await SecondsAsync($"git clone -q --no-hardlinks '{repo}' '{dir}/clone'", ct));
                    Peak("rm, git");
                    var file = Path.Combine(dir, "io.bin");
                    await Daemon.Shell($"head -c {(long)ioMib * 1048576} /dev/urandom > '{file}'", ct);
                    Peak($"{ioMib} MiB file written");
                    // Each read row starts alike: cold, the file's pages dropped (fadvise DONTNEED), so the daemon serves
                    // them; warm, after one sequential read. Writes come last, so no read row follows a write.
                    foreach (var jobs in new[] { 1, 4 })
                    {
                        await Daemon.Shell($"dd if='{file}' iflag=nocache count=0 status=none", ct);
                        Note(subject, $"randread x{jobs} cold IOPS", await IopsAsync(fsops, "randread", file, jobs, seconds, ct));
                    }
                    Peak("cold reads");
                    foreach (var jobs in new[] { 1, 4 })
                    {
                        await Daemon.Shell($"cat '{file}' > /dev/null", ct);
                        Note(subject, $"randread x{jobs} IOPS", await IopsAsync(fsops, "randread", file, jobs, seconds, ct));
                    }
                    Peak("warm reads");
                    foreach (var jobs in new[] { 1, 4 })
                        Note(subject, $"randwrite x{jobs} IOPS", await IopsAsync(fsops, "randwrite", file, jobs, seconds, ct));
                    Peak("writes");
                    if (subject == "mount") mountPeaks = peaks.ToString();
                    await Daemon.Shell($"rm -rf '{dir}'", ct);
                    line.Append(CultureInfo.InvariantCulture, $" {subject} done;");
                }
                Console.WriteLine(line.ToString());
                Console.WriteLine(mountPeaks);
            }

            double M(string subject, string what) => Daemon.Median(figures[(subject, what)]);
            Console.WriteLine();
            Console.WriteLine($"medians of {rounds} rounds (load average now {LoadAverage()}):");
            Console.WriteLine($"{"work",-20} {"mount",12} {"bindfs",12} {"local",12}");
            foreach (var what in figures.Keys.Select(k => k.Work).Distinct())
                Console.WriteLine($"{what,-20} {M("mount", what),12:F1} {M("bindfs", what),12:F1} {M("local", what),12:F1}");
            var rss = Daemon.PeakRss(daemon.Id);

            Console.WriteLine();
            var verdicts = new List<bool>();
            void Target(string text, bool met)
            {
                verdicts.Add(met);
                Console.WriteLine($"{text}: {Daemon.Verdict(met)}");
            }
            foreach (var op in new[] { "create", "rename", "unlink" })
                Target($"mount {op} {M("mount", op):F0}/s >= 1000/s (bindfs {M("bindfs", op):F0}/s)", M("mount", op) >= 1000);
            Target($"mount stat {M("mount", "stat"):F0}/s >= 10000/s (bindfs {M("bindfs", "stat"):F0}/s)", M("mount", "stat") >= 10000);
            foreach (var (what, factor) in new[] { ("tar xf s", 10.0), ("rm -rf s", 10.0), ("git clone s", 5.0) })
            {
                var ratio = M("mount", what) / M("bindfs", what);
                Target($"mount {what[..^2]} {M("mount", what):F2} s within {factor:F0}x of bindfs {M("bindfs", what):F2} s ({ratio:F1}x)", ratio <= factor);
            }
            var readShare = M("mount", "randread x1 IOPS") / M("bindfs", "randread x1 IOPS");
            Target($"mount random 4K read x1 {M("mount", "randread x1 IOPS"):F0} IOPS >= 10% of bindfs {M("bindfs", "randread x1 IOPS"):F0} ({readShare:P1})", readShare >= 0.10);
            Target($"mount random 4K read x4 {M("mount", "randread x4 IOPS"):F0} IOPS faster than x1 {M("mount", "randread x1 IOPS"):F0}",
                M("mount", "randread x4 IOPS") > M("mount", "randread x1 IOPS"));
            Target($"mount random 4K write x1 with fsync {M("mount", "randwrite x1 IOPS"):F0} IOPS >= 1000 (bindfs {M("bindfs", "randwrite x1 IOPS"):F0})",
                M("mount", "randwrite x1 IOPS") >= 1000);
            Target($"daemon peak RSS {rss / 1048576.0:F0} MB <= 200 MB", rss <= 200L * 1048576);
            Console.WriteLine("(sequential through the mount against raw CQL: the `mount` suite)");
            var met = verdicts.Count(v => v);
            Console.WriteLine($"{met} of {verdicts.Count} targets met");
            return met == verdicts.Count ? 0 : 1;
        }
        finally
        {
            await Daemon.Shell($"fusermount3 -u -z '{targets["mount"]}' 2>/dev/null; fusermount3 -u -z '{targets["bindfs"]}' 2>/dev/null; true", CancellationToken.None);
            if (daemon is not null)
            {
                await daemon.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
                daemon.Dispose();
            }
            Directory.Delete(work, recursive: true);
            await session.ExecuteAsync(new SimpleStatement($"DROP KEYSPACE {keyspace}"), CancellationToken.None);
        }
    }

    private static async Task<double> SecondsAsync(string script, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await Daemon.Shell(script, ct);
        return clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> IopsAsync(string fsops, string workload, string file, int jobs, int seconds, CancellationToken ct) =>
        double.Parse(await Daemon.ShellOutput($"python3 '{fsops}' {workload} '{file}' {jobs} {seconds}", ct), CultureInfo.InvariantCulture);

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>
    /// A source tree of <paramref name="count"/> entries, the same for every seed: directories of about 15 entries
    /// three deep, files mostly 1-16 KiB with a tail to 256 KiB, as a project checkout is. Returns its bytes.
    /// </summary>
    private static long MakeTree(string root, int count, int seed)
    {
        var rng = new Random(seed);
        var bytes = 0L;
        var dirs = new List<string> { root };
        Directory.CreateDirectory(root);
        for (var i = 0; i < count; i++)
        {
            var parent = dirs[rng.Next(dirs.Count)];
            if (i % 15 == 0 && parent.Count(c => c == '/') - root.Count(c => c == '/') < 3)
            {
                var dir = Path.Combine(parent, $"d{i}");
                Directory.CreateDirectory(dir);
                dirs.Add(dir);
                continue;
            }
            var size = rng.Next(100) < 90 ? rng.Next(1024, 16 * 1024) : rng.Next(16 * 1024, 256 * 1024);
            var data = new byte[size];
            rng.NextBytes(data);
            File.WriteAllBytes(Path.Combine(parent, $"f{i}.c"), data);
            bytes += size;
        }
        return bytes;
    }
}
