using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CassaFS.Cql;
using CassaFS.LocalServers;
using CassaFS.Locks;
using CassaFS.ZooKeeper;

namespace CassaFS.Benchmarks;

/// <summary>
/// The lock layer's cost. ZooKeeper mutex: uncontended acquire+release beside the raw floor (the bare round trips
/// the recipe needs: create ephemeral-sequential, getChildren, delete, done with the client directly), and
/// contended throughput with 4 and 16 clients, each beside kazoo's Lock on the same server. Then the LWT lease and
/// bakery locks' acquire cost beside one bare LWT / one QUORUM write.
/// Targets: uncontended within 1.25x of the raw floor; contended at least kazoo's throughput.
/// </summary>
internal sealed class LockBenchmark : IBenchmark
{
    public string Name => "locks";
    public string Description => "lock acquire latency and contended throughput (zookeeper vs raw floor and kazoo; lwt; bakery)";

    private const int Warmup = 200;

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var quick = args.Contains("--quick");
        var iterations = quick ? 500 : 3000;
        var contendedSeconds = quick ? 3 : 8;
        await using var servers = await Servers.StartAsync(ct);
        var failures = 0;

        var chroot = $"/bench-locks-{Guid.NewGuid():N}";
        await using (var admin = await ZooKeeperClient.ConnectAsync(servers.ZooKeeper, null, ct))
            await admin.EnsurePathAsync(chroot, ct);
        var zk = servers.ZooKeeper + chroot;

        Console.WriteLine($"ZooKeeper {servers.ZooKeeper}, Cassandra {servers.Cassandra}; {iterations} uncontended iterations, {contendedSeconds} s per contended run");
        Console.WriteLine();
        Console.WriteLine("== ZooKeeper mutex, uncontended acquire+release (one client) ==");
        var (floor, recipe) = await UncontendedAsync(zk, iterations, ct);
        Print("raw floor (create+getChildren+delete)", floor);
        Print("ZooKeeperLockProvider", recipe);
        var kazooUncontended = await Kazoo.UncontendedAsync(servers.ZooKeeper, chroot, iterations, ct);
        if (kazooUncontended is not null) Print("kazoo Lock", kazooUncontended);
        var ratio = Median(recipe) / Median(floor);
        failures += Verdict($"recipe / raw floor (median) = {ratio:F2}x", ratio <= 1.25, "target <= 1.25x");
        if (kazooUncontended is not null) Console.WriteLine($"  kazoo / recipe (median) = {Median(kazooUncontended) / Median(recipe):F2}x");

        foreach (var clients in new[] { 4, 16 })
        {
            Console.WriteLine();
            Console.WriteLine($"== ZooKeeper mutex, {clients} clients contending for one key ==");
            var ours = await ContendedAsync(zk, clients, TimeSpan.FromSeconds(contendedSeconds), ct);
            Console.WriteLine($"  ZooKeeperLockProvider  {ours,10:F0} grants/s");
            var theirs = await Kazoo.ContendedAsync(servers.ZooKeeper, chroot, clients, contendedSeconds, ct);
            if (theirs is { } k)
            {
                Console.WriteLine($"  kazoo Lock             {k,10:F0} grants/s");
                failures += Verdict($"recipe / kazoo = {ours / k:F2}x", ours >= k, "target >= 1.00x");
            }
            else
            {
                Console.WriteLine("  kazoo: not measured (python3-kazoo missing)");
            }
        }

        Console.WriteLine();
        Console.WriteLine("== Cassandra locks, uncontended acquire+release ==");
        await CassandraLocksAsync(servers.Cassandra, quick ? 100 : 300, ct);
        Console.WriteLine();
        Console.WriteLine(failures == 0 ? "locks: every target met" : $"locks: {failures} target(s) missed");
        return failures == 0 ? 0 : 1;
    }

    private static async Task<(List<double> Floor, List<double> Recipe)> UncontendedAsync(string zk, int iterations, CancellationToken ct)
    {
        await using var client = await ZooKeeperClient.ConnectAsync(zk, null, ct);
        await using var provider = new ZooKeeperLockProvider(client);
        var key = LockKey.ForInode(Guid.NewGuid());
        var floorParent = $"/floor/{key.NodeName}";
        await client.EnsurePathAsync(floorParent, ct);
        var payload = new byte[110]; // about the size of a holder record
        var floor = new List<double>(iterations);
        var recipe = new List<double>(iterations);
        var request = new LockRequest(key, LockMode.Write) { Purpose = "benchmark" };

        async Task Floor(List<double>? into)
        {
            var start = Stopwatch.GetTimestamp();
            var path = await client.CreateAsync($"{floorParent}/{Guid.NewGuid():N}-write-", payload, CreateMode.EphemeralSequential, null, ct);
            await client.GetChildrenAsync(floorParent, null, ct);
            await client.DeleteAsync(path, -1, ct);
            into?.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        async Task Recipe(List<double>? into)
        {
            var start = Stopwatch.GetTimestamp();
            var held = await provider.AcquireAsync(request, ct);
            await held.ReleaseAsync(ct);
            into?.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        for (var i = 0; i < Warmup; i++)
        {
            await Floor(null);
            await Recipe(null);
        }
        // Alternate blocks so both see the same server and machine conditions.
        const int Block = 50;
        for (var done = 0; done < iterations; done += Block)
        {
            for (var i = 0; i < Block; i++) await Floor(floor);
            for (var i = 0; i < Block; i++) await Recipe(recipe);
        }
        return (floor, recipe);
    }

    private static async Task<double> ContendedAsync(string zk, int clients, TimeSpan duration, CancellationToken ct)
    {
        var connections = new List<ZooKeeperClient>();
        try
        {
            for (var i = 0; i < clients; i++) connections.Add(await ZooKeeperClient.ConnectAsync(zk, null, ct));
            var key = LockKey.ForInode(Guid.NewGuid());
            long grants = 0;
            using var stop = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            stop.CancelAfter(duration);
            var workers = connections.Select(c => Task.Run(async () =>
            {
                var provider = new ZooKeeperLockProvider(c);
                var request = new LockRequest(key, LockMode.Write) { Purpose = "benchmark" };
                while (!stop.IsCancellationRequested)
                {
                    var held = await provider.AcquireAsync(request, ct);
                    await held.ReleaseAsync(ct);
                    Interlocked.Increment(ref grants);
                }
            }, ct)).ToList();
            await Task.WhenAll(workers);
            return grants / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var c in connections) await c.DisposeAsync();
        }
    }

    private static async Task CassandraLocksAsync(string cassandra, int iterations, CancellationToken ct)
    {
        var keyspace = $"bench_locks_{Guid.NewGuid():N}"[..30];
        await using var session = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { cassandra } }, ct);
        await session.ExecuteAsync(new SimpleStatement($"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"), ct);
        try
        {
            await LwtLeaseLockProvider.EnsureSchemaAsync(session, keyspace, ct);
            await BakeryLockProvider.EnsureSchemaAsync(session, keyspace, ct);
            await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE {keyspace}.bench_raw (key text PRIMARY KEY, owner text)"), ct);
            var rawInsert = await session.PrepareAsync($"INSERT INTO {keyspace}.bench_raw (key, owner) VALUES (?, ?) IF NOT EXISTS", ct);
            var rawDelete = await session.PrepareAsync($"DELETE FROM {keyspace}.bench_raw WHERE key = ? IF owner = ?", ct);
            var rawWrite = await session.PrepareAsync($"UPDATE {keyspace}.bench_raw SET owner = ? WHERE key = ?", ct);

            var lwtRaw = await TimeAsync(iterations, async () =>
            {
                await session.ExecuteConditionalAsync(rawInsert.Bind("k", "me"), ct);
                await session.ExecuteConditionalAsync(rawDelete.Bind("k", "me"), ct);
            });
            var quorumWrite = await TimeAsync(iterations, async () =>
                await session.ExecuteAsync(rawWrite.Bind("me", "w").WithConsistency(Consistency.Quorum), ct));

            var lwt = new LwtLeaseLockProvider(session, keyspace);
            var lwtKey = new LockRequest(LockKey.ForInode(Guid.NewGuid()), LockMode.Write);
            var lease = await TimeAsync(iterations, async () => await (await lwt.AcquireAsync(lwtKey, ct)).ReleaseAsync(ct));

            var bakery = new BakeryLockProvider(session, keyspace, 0, 4);
            var bakeryKey = new LockRequest(LockKey.ForInode(Guid.NewGuid()), LockMode.Write);
            var bakeryTimes = await TimeAsync(iterations, async () => await (await bakery.AcquireAsync(bakeryKey, ct)).ReleaseAsync(ct));

            Print("bare LWT pair (INSERT IF NOT EXISTS + DELETE IF)", lwtRaw);
            Print("LwtLeaseLockProvider (4 LWTs per grant)", lease);
            Console.WriteLine($"  lease / bare LWT pair (median) = {Median(lease) / Median(lwtRaw):F2}x (expected about 2x: take, fence, confirm, release)");
            Print("bare QUORUM write", quorumWrite);
            Print("BakeryLockProvider (4 participants)", bakeryTimes);
            Console.WriteLine($"  bakery / QUORUM write (median) = {Median(bakeryTimes) / Median(quorumWrite):F2}x (9 QUORUM round trips per grant: doorway 4, two scans, fence 2, release 1)");
        }
        finally
        {
            await session.ExecuteAsync(new SimpleStatement($"DROP KEYSPACE IF EXISTS {keyspace}"), ct);
        }
    }

    private static async Task<List<double>> TimeAsync(int iterations, Func<Task> action)
    {
        for (var i = 0; i < Math.Min(50, iterations); i++) await action();
        var times = new List<double>(iterations);
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await action();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        return times;
    }

    private static double Median(List<double> samples) => Percentile(samples, 0.5);

    private static double Percentile(List<double> samples, double p)
    {
        var sorted = samples.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
    }

    private static void Print(string what, List<double> microseconds) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {what,-50} median {Median(microseconds) / 1000,7:F3} ms  p99 {Percentile(microseconds, 0.99) / 1000,7:F3} ms  {1e6 / microseconds.Average(),8:F0} ops/s"));

    private static int Verdict(string what, bool met, string target)
    {
        Console.WriteLine($"  {what}  ({target}: {(met ? "met" : "MISSED")})");
        return met ? 0 : 1;
    }

    /// <summary>The servers measured: those named by the test variables, or ones started for this run.</summary>
    private sealed class Servers : IAsyncDisposable
    {
        private LocalRun? _run;
        public string ZooKeeper { get; private set; } = "";
        public string Cassandra { get; private set; } = "";

        public static async Task<Servers> StartAsync(CancellationToken ct)
        {
            var s = new Servers
            {
                ZooKeeper = Environment.GetEnvironmentVariable("CASSAFS_TEST_ZOOKEEPER") ?? "",
                Cassandra = Environment.GetEnvironmentVariable("CASSAFS_TEST_CASSANDRA") ?? "",
            };
            if (s.ZooKeeper.Length == 0 || s.Cassandra.Length == 0) s._run = await LocalRun.CreateAsync("bench-locks", Console.WriteLine, ct);
            if (s.ZooKeeper.Length == 0) s.ZooKeeper = (await s._run!.StartZooKeeperAsync(ct: ct)).ConnectString;
            if (s.Cassandra.Length == 0) s.Cassandra = (await s._run!.StartCassandraAsync(ct: ct)).ContactPoint;
            return s;
        }

        public async ValueTask DisposeAsync()
        {
            if (_run is not null) await _run.DisposeAsync();
        }
    }

    /// <summary>kazoo's Lock on the same server, run by python3 from a script written to a temporary file.</summary>
    private static class Kazoo
    {
        private const string Script = """
            import json, multiprocessing, sys, time, uuid
            from kazoo.client import KazooClient

            def client(hosts):
                zk = KazooClient(hosts=hosts, timeout=10)
                zk.start()
                return zk

            def uncontended(hosts, n, warmup):
                zk = client(hosts)
                lock = zk.Lock("/kazoo-locks/" + uuid.uuid4().hex, "bench")
                times = []
                for i in range(warmup + n):
                    start = time.perf_counter()
                    lock.acquire()
                    lock.release()
                    if i >= warmup:
                        times.append((time.perf_counter() - start) * 1e6)
                zk.stop()
                print(json.dumps({"times": times}))

            def worker(hosts, path, until, ready, go, out):
                zk = client(hosts)
                lock = zk.Lock(path, "bench")
                ready.release()
                go.wait()
                n = 0
                while time.time() < until.value:
                    lock.acquire()
                    lock.release()
                    n += 1
                zk.stop()
                out.put(n)

            def contended(hosts, clients, seconds):
                path = "/kazoo-locks/" + uuid.uuid4().hex
                until = multiprocessing.Value("d", 1e18)
                ready = multiprocessing.Semaphore(0)
                go = multiprocessing.Event()
                out = multiprocessing.Queue()
                procs = [multiprocessing.Process(target=worker, args=(hosts, path, until, ready, go, out)) for _ in range(clients)]
                for p in procs: p.start()
                for _ in procs: ready.acquire()
                start = time.time()
                until.value = start + seconds
                go.set()
                total = sum(out.get() for _ in procs)
                elapsed = time.time() - start
                for p in procs: p.join()
                print(json.dumps({"grantsPerSecond": total / elapsed}))

            if __name__ == "__main__":
                hosts, mode = sys.argv[1], sys.argv[2]
                if mode == "uncontended":
                    uncontended(hosts, int(sys.argv[3]), int(sys.argv[4]))
                else:
                    contended(hosts, int(sys.argv[3]), float(sys.argv[4]))
            """;

        public static async Task<List<double>?> UncontendedAsync(string servers, string chroot, int iterations, CancellationToken ct)
        {
            var json = await RunAsync(ct, servers + chroot, "uncontended", iterations.ToString(CultureInfo.InvariantCulture), Warmup.ToString(CultureInfo.InvariantCulture));
            return json?.RootElement.GetProperty("times").EnumerateArray().Select(e => e.GetDouble()).ToList();
        }

        public static async Task<double?> ContendedAsync(string servers, string chroot, int clients, int seconds, CancellationToken ct)
        {
            var json = await RunAsync(ct, servers + chroot, "contended", clients.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture));
            return json?.RootElement.GetProperty("grantsPerSecond").GetDouble();
        }

        private static async Task<JsonDocument?> RunAsync(CancellationToken ct, params string[] args)
        {
            var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
            var script = Path.Combine(Path.GetTempPath(), $"cassafs-kazoo-{Guid.NewGuid():N}.py");
            await File.WriteAllTextAsync(script, Script, ct);
            try
            {
                var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
                start.ArgumentList.Add(script);
                foreach (var a in args) start.ArgumentList.Add(a);
                using var process = Process.Start(start)!;
                var stdout = process.StandardOutput.ReadToEndAsync(ct);
                var stderr = process.StandardError.ReadToEndAsync(ct);
                await process.WaitForExitAsync(ct);
                if (process.ExitCode != 0)
                {
                    Console.WriteLine($"  kazoo run failed ({process.ExitCode}): {(await stderr).Trim().Split('\n').LastOrDefault()}");
                    return null;
                }
                var last = (await stdout).Trim().Split('\n').Last();
                return JsonDocument.Parse(last);
            }
            finally
            {
                File.Delete(script);
            }
        }
    }
}
