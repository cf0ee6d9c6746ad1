using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CassaFS.Cql;
using CassaFS.LocalServers;

namespace CassaFS.Benchmarks;

/// <summary>
/// Blob insert/select at 64 KiB, 256 KiB and 1 MiB with 1 and 32 requests in flight, plain single-row inserts and
/// LWT inserts, through CassaFS.Cql and, as the reference, through Debian's DataStax Python driver (C extensions,
/// libev) running the same workload against the same server in the same run. Targets: at least 1.0x the reference
/// in every case and 1.5x on the geometric mean. The machine may be shared (builds, tests), so the two clients take
/// turns for <c>--rounds</c> rounds (3 by default; the one that goes first alternates) and each case is judged on the
/// median of its rounds; the load average is printed beside the figures. Exits 1 when a target is missed.
/// </summary>
internal sealed class CqlBenchmark : IBenchmark
{
    public string Name => "cql";
    public string Description => "CassaFS.Cql throughput vs the DataStax Python driver (blobs, rows, LWT)";

    private const double MeanTarget = 1.5;
    private const double CaseTarget = 1.0;
    private const string Python = "/usr/bin/python3";

    private sealed record Case(string Name, string Kind, int Size, int InFlight, int Ops);

    private static List<Case> Cases(double scale)
    {
        var list = new List<Case>();
        foreach (var size in new[] { 64 << 10, 256 << 10, 1 << 20 })
        {
            foreach (var inFlight in new[] { 1, 32 })
            {
                var ops = Math.Max(16, (int)(scale * (48 << 20) / size * (inFlight == 1 ? 0.5 : 1)));
                list.Add(new Case($"blob insert {size >> 10,4} KiB x{inFlight,-2}", "blob_insert", size, inFlight, ops));
                list.Add(new Case($"blob select {size >> 10,4} KiB x{inFlight,-2}", "blob_select", size, inFlight, ops));
            }
        }
        foreach (var inFlight in new[] { 1, 32 })
        {
            list.Add(new Case($"row insert           x{inFlight,-2}", "row_insert", 0, inFlight, (int)(scale * (inFlight == 1 ? 2000 : 20000))));
            list.Add(new Case($"LWT insert           x{inFlight,-2}", "lwt_insert", 0, inFlight, (int)(scale * (inFlight == 1 ? 300 : 2000))));
        }
        return list;
    }

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var scale = 1.0;
        string? contact = null;
        string? only = null;
        var rounds = 3;
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--scale") scale = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--contact") contact = args[i + 1];
            if (args[i] == "--only") only = args[i + 1];
            if (args[i] == "--rounds") rounds = Math.Max(1, int.Parse(args[i + 1], CultureInfo.InvariantCulture));
        }

        // Its own node by default, with a 1 GiB heap: 32 one-MiB writes in flight overwhelm a 256 MiB test node
        // (and would disturb the tests sharing it). --contact host:port measures against a given server instead.
        LocalRun? run = null;
        if (string.IsNullOrWhiteSpace(contact))
        {
            run = await LocalRun.CreateAsync("bench-cql", Console.WriteLine, ct);
            contact = (await run.StartCassandraAsync(CassandraNodeOptions.OnFreePorts() with { HeapMegabytes = 1024 }, ct)).ContactPoint;
        }
        try
        {
            var cases = Cases(scale).Where(c => only is null || c.Name.Contains(only, StringComparison.Ordinal)).ToList();
            return await RunAgainstAsync(contact.Trim(), cases, rounds, ct);
        }
        finally
        {
            if (run is not null) await run.DisposeAsync();
        }
    }

    private static async Task<int> RunAgainstAsync(string contact, List<Case> cases, int rounds, CancellationToken ct)
    {
        var keyspace = $"bench_cql_{Guid.NewGuid().ToString("N")[..8]}";
        await using var session = await CqlSession.ConnectAsync(new CqlSessionOptions { ContactPoints = { contact }, DefaultConsistency = Consistency.One }, ct);
        await session.ExecuteAsync(new SimpleStatement($"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"), ct);
        try
        {
            foreach (var table in new[] { "blobs (id int PRIMARY KEY, data blob)", "rows (id int PRIMARY KEY, v text)", "lwt (id uuid PRIMARY KEY, v int)" })
                await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE {keyspace}.{table}"), ct);
            Console.WriteLine($"Cassandra at {contact}, protocol v{session.ProtocolVersion}, keyspace {keyspace}, consistency ONE, {rounds} round(s)");
            // Selects read 64 rows written once into a table of their own, so they measure the client, not a merge of
            // the many overwritten versions the insert cases leave behind.
            foreach (var size in cases.Where(c => c.Kind == "blob_select").Select(c => c.Size).Distinct())
            {
                await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE {keyspace}.read_{size} (id int PRIMARY KEY, data blob)"), ct);
                var fill = await session.PrepareAsync($"INSERT INTO {keyspace}.read_{size} (id, data) VALUES (?, ?)", ct);
                var data = new byte[size];
                new Random(size).NextBytes(data);
                for (var i = 0; i < 64; i++) await session.ExecuteAsync(fill.Bind(i, data), ct);
            }

            // A short pass first, so the server's JIT and caches are as warm for the first measured client as for the second.
            foreach (var c in cases) await MeasureAsync(session, keyspace, c with { Ops = Math.Max(8, c.Ops / 5) }, ct);
            var ours = cases.ToDictionary(c => c.Name, _ => new List<double>());
            var reference = cases.ToDictionary(c => c.Name, _ => new List<double>());
            var bytesPerCase = new Dictionary<string, long>();
            var loads = new List<string> { LoadAverage() };
            var clock = Stopwatch.StartNew();
            var pythonMissing = false;
            for (var round = 0; round < rounds; round++)
            {
                // Taking turns, the first alternating, so a load that rises or falls during the run weighs on both.
                for (var turn = 0; turn < 2; turn++)
                {
                    if ((turn == 0) == (round % 2 == 0))
                    {
                        foreach (var c in cases)
                        {
                            var (seconds, bytes) = await MeasureAsync(session, keyspace, c, ct);
                            ours[c.Name].Add(seconds);
                            bytesPerCase[c.Name] = bytes;
                        }
                    }
                    else if (!pythonMissing)
                    {
                        var python = await RunPythonAsync(contact, keyspace, cases, ct);
                        pythonMissing = python is null;
                        foreach (var (name, seconds) in python ?? new Dictionary<string, double>()) reference[name].Add(seconds);
                    }
                }
                loads.Add(LoadAverage());
                Console.WriteLine($"round {round + 1}/{rounds} done after {clock.Elapsed.TotalSeconds:F0} s; load average {loads[^1]}");
            }

            Console.WriteLine();
            Console.WriteLine($"medians of {rounds} round(s); load average (1, 5, 15 min) before and after each round: {string.Join(" | ", loads)}");
            Console.WriteLine($"{"case",-28} {"CassaFS.Cql ops/s",18} {"MB/s",8} {"python ops/s",13} {"MB/s",8} {"ratio",7}");
            var ratios = new List<(string Name, double Ratio)>();
            foreach (var c in cases)
            {
                var seconds = Median(ours[c.Name]);
                var bytes = bytesPerCase[c.Name];
                var line = $"{c.Name,-28} {c.Ops / seconds,18:F0} {(c.Size > 0 ? $"{bytes / seconds / 1e6:F1}" : "-"),8}";
                if (reference[c.Name].Count > 0)
                {
                    var py = Median(reference[c.Name]);
                    var ratio = py / seconds;
                    ratios.Add((c.Name, ratio));
                    line += $" {c.Ops / py,13:F0} {(c.Size > 0 ? $"{bytes / py / 1e6:F1}" : "-"),8} {ratio,6:F2}x";
                }
                Console.WriteLine(line);
            }
            if (ratios.Count == 0) return 0;
            var geometricMean = Math.Exp(ratios.Average(r => Math.Log(r.Ratio)));
            var misses = ratios.Where(r => r.Ratio < CaseTarget).Select(r => $"{r.Name.Trim()} {r.Ratio:F2}x").ToList();
            Console.WriteLine();
            Console.WriteLine($"target: every case at least {CaseTarget:F1}x the Python driver: {(misses.Count == 0 ? "MET" : $"NOT MET ({string.Join("; ", misses)})")}; min {ratios.Min(r => r.Ratio):F2}x");
            Console.WriteLine($"target: geometric mean at least {MeanTarget:F1}x the Python driver: {(geometricMean >= MeanTarget ? "MET" : "NOT MET")} ({geometricMean:F2}x)");
            return misses.Count == 0 && geometricMean >= MeanTarget ? 0 : 1;
        }
        finally
        {
            await session.ExecuteAsync(new SimpleStatement($"DROP KEYSPACE {keyspace}"), CancellationToken.None);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static async Task<(double Seconds, long Bytes)> MeasureAsync(CqlSession session, string keyspace, Case c, CancellationToken ct)
    {
        var blob = new byte[Math.Max(c.Size, 1)];
        new Random(1).NextBytes(blob);
        var payload = new ReadOnlyMemory<byte>(blob, 0, c.Size);
        PreparedStatement statement = c.Kind switch
        {
            "blob_insert" => await session.PrepareAsync($"INSERT INTO {keyspace}.blobs (id, data) VALUES (?, ?)", ct),
            "blob_select" => await session.PrepareAsync($"SELECT data FROM {keyspace}.read_{c.Size} WHERE id = ?", ct),
            "row_insert" => await session.PrepareAsync($"INSERT INTO {keyspace}.rows (id, v) VALUES (?, ?)", ct),
            _ => await session.PrepareAsync($"INSERT INTO {keyspace}.lwt (id, v) VALUES (?, ?) IF NOT EXISTS", ct),
        };
        var next = -1;
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, c.InFlight).Select(_ => Task.Run(async () =>
        {
            var reader = new byte[c.Size];
            int i;
            while ((i = Interlocked.Increment(ref next)) < c.Ops)
            {
                switch (c.Kind)
                {
                    case "blob_insert":
                        await session.ExecuteAsync(statement.Bind(i % 64, payload), ct);
                        Interlocked.Add(ref bytes, c.Size);
                        break;
                    case "blob_select":
                        var rows = await session.ExecuteAsync(statement.Bind(i % 64), ct);
                        Interlocked.Add(ref bytes, rows[0].CopyBytes(0, reader));
                        break;
                    case "row_insert":
                        await session.ExecuteAsync(statement.Bind(i, "a small value"), ct);
                        break;
                    default:
                        await session.ExecuteConditionalAsync(statement.Bind(Guid.NewGuid(), i), ct);
                        break;
                }
            }
        }, ct)));
        return (clock.Elapsed.TotalSeconds, bytes);
    }

    private const string PythonScript = """
        import json, queue, sys, time, uuid
        from cassandra import ConsistencyLevel
        from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT, NoHostAvailable
        from cassandra.concurrent import execute_concurrent_with_args
        from cassandra.connection import ConnectionBusy
        try:
            from cassandra.io.libevreactor import LibevConnection as Reactor
        except ImportError:
            Reactor = None
        host, port, keyspace = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        cases = json.loads(sys.stdin.read())
        kwargs = dict(contact_points=[host], port=port, protocol_version=3,
                      execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(consistency_level=ConsistencyLevel.ONE)})
        if Reactor is not None:
            kwargs["connection_class"] = Reactor
        cluster = Cluster(**kwargs)
        session = cluster.connect(keyspace)
        statements = {
            "blob_insert": session.prepare("INSERT INTO blobs (id, data) VALUES (?, ?)"),
            "row_insert": session.prepare("INSERT INTO rows (id, v) VALUES (?, ?)"),
            "lwt_insert": session.prepare("INSERT INTO lwt (id, v) VALUES (?, ?) IF NOT EXISTS"),
        }
        print("reactor: %s" % ("libev" if Reactor is not None else "asyncore"), file=sys.stderr)

        def busy(exc):
            return isinstance(exc, NoHostAvailable) and any(isinstance(e, ConnectionBusy) for e in exc.errors.values())

        def window(stmt, params, inflight):
            # execute_concurrent gives up when the driver's socket buffer is full (ConnectionBusy, large blobs);
            # this keeps `inflight` requests going and resubmits a refused one after a short pause.
            done = queue.Queue()
            it = iter(params)
            def submit(p):
                f = session.execute_async(stmt, p)
                f.add_callbacks(lambda _, p: done.put((None, p)), lambda e, p: done.put((e, p)), callback_args=(p,), errback_args=(p,))
            pending = 0
            for p in it:
                submit(p)
                pending += 1
                if pending == inflight:
                    break
            while pending:
                error, p = done.get()
                if error is not None:
                    if busy(error):
                        time.sleep(0.0005)
                        submit(p)
                        continue
                    raise error
                pending -= 1
                p = next(it, None)
                if p is not None:
                    submit(p)
                    pending += 1

        for c in cases:
            kind, size, inflight, ops = c["Kind"], c["Size"], c["InFlight"], c["Ops"]
            blob = bytes(bytearray((i * 7) & 255 for i in range(size)))
            if kind == "blob_insert":
                params = [(i % 64, blob) for i in range(ops)]
            elif kind == "blob_select":
                params = [(i % 64,) for i in range(ops)]
            elif kind == "row_insert":
                params = [(i, "a small value") for i in range(ops)]
            else:
                params = [(uuid.uuid4(), i) for i in range(ops)]
            if kind == "lwt_insert" and inflight > 1:
                params = [(uuid.uuid4(), i) for i in range(ops)]
            stmt = statements[kind] if kind != "blob_select" else session.prepare("SELECT data FROM read_%d WHERE id = ?" % size)
            statements[kind] = stmt
            start = time.perf_counter()
            if inflight == 1:
                for p in params:
                    session.execute(statements[kind], p)
            else:
                try:
                    execute_concurrent_with_args(session, statements[kind], params, concurrency=inflight, raise_on_first_error=True)
                except NoHostAvailable as e:
                    if not busy(e):
                        raise
                    if kind == "lwt_insert":
                        params = [(uuid.uuid4(), i) for i in range(ops)]
                    start = time.perf_counter()
                    window(statements[kind], params, inflight)
            print(json.dumps({"name": c["Name"], "seconds": time.perf_counter() - start}), flush=True)
        cluster.shutdown()
        """;

    /// <summary>Runs the same cases through the Python driver; null when it cannot run here.</summary>
    private static async Task<Dictionary<string, double>?> RunPythonAsync(string contact, string keyspace, List<Case> cases, CancellationToken ct)
    {
        if (!await PythonDriverPresentAsync(ct))
        {
            if (Environment.UserName == "root" && File.Exists("/usr/bin/apt-get"))
            {
                Console.WriteLine("python3-cassandra is missing: installing it with apt-get");
                await RunAsync("/usr/bin/apt-get", "install -y --no-install-recommends python3-cassandra", null, ct);
            }
            if (!await PythonDriverPresentAsync(ct))
            {
                Console.WriteLine("reference unavailable: install python3-cassandra (apt-get install python3-cassandra) to compare; only this client's figures are printed");
                return null;
            }
        }
        var script = Path.Combine(Path.GetTempPath(), $"cassafs-cql-bench-{Environment.ProcessId}.py");
        await File.WriteAllTextAsync(script, PythonScript, ct);
        try
        {
            var separator = contact.LastIndexOf(':');
            var (host, port) = separator > 0 ? (contact[..separator], contact[(separator + 1)..]) : (contact, "9042");
            var output = await RunAsync(Python, $"{script} {host} {port} {keyspace}", JsonSerializer.Serialize(cases), ct);
            var results = new Dictionary<string, double>();
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                results[doc.RootElement.GetProperty("name").GetString()!] = doc.RootElement.GetProperty("seconds").GetDouble();
            }
            return results;
        }
        finally
        {
            File.Delete(script);
        }
    }

    private static async Task<bool> PythonDriverPresentAsync(CancellationToken ct)
    {
        try
        {
            await RunAsync(Python, "-c \"import cassandra.cluster\"", null, ct);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static async Task<string> RunAsync(string file, string arguments, string? input, CancellationToken ct)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null, UseShellExecute = false,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input.AsMemory(), ct);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var errors = await stderr;
        if (errors.Contains("reactor:", StringComparison.Ordinal)) Console.WriteLine($"python driver {errors.Trim().Split('\n')[0]}");
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} exited with {process.ExitCode}: {errors}");
        return await stdout;
    }
}
