using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace CassaFS.Tests;

/// <summary>Separate processes as separate machines: each worker mounts the filesystem with its own connections.</summary>
public class MultiProcessTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    [Fact]
    public async Task Four_processes_making_the_same_directory_exactly_one_succeeds_in_each_of_100_trials()
    {
        var dir = await Fs.ScratchAsync();
        var workers = Enumerable.Range(0, 4).Select(_ => Worker.Start(f, "mkdir", dir.Id, "100", "120")).ToList();
        try
        {
            foreach (var w in workers) await w.WaitReadyAsync();
            var start = DateTimeOffset.UtcNow.AddMilliseconds(500).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
            foreach (var w in workers) await w.Process.StandardInput.WriteLineAsync(start);
            var results = await Task.WhenAll(workers.Select(w => w.ReadToEndAsync()));
            var outcomes = results.SelectMany(lines => lines.Select(l => l.Split(' '))).Where(p => p.Length == 2)
                .GroupBy(p => int.Parse(p[0], CultureInfo.InvariantCulture)).ToDictionary(g => g.Key, g => g.Select(p => p[1]).ToList());
            Assert.Equal(100, outcomes.Count);
            foreach (var (trial, o) in outcomes)
            {
                Assert.True(o.Count(x => x == "OK") == 1 && o.Count(x => x == "EEXIST") == 3, $"trial {trial}: {string.Join(',', o)}");
            }
            Assert.Equal(102, (await Fs.GetAttrAsync(dir.Id)).Nlink);
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }

    [Fact]
    public async Task Rename_link_and_unlink_storms_from_three_processes_leave_a_tree_fsck_finds_clean()
    {
        var dir = await Fs.ScratchAsync();
        foreach (var d in new[] { "d0", "d1", "d2" }) await Fs.MkdirAsync(dir.Id, d, 0x1ED, Root);
        var workers = Enumerable.Range(0, 3).Select(i => Worker.Start(f, "storm", dir.Id, "250", (17 + i).ToString(CultureInfo.InvariantCulture))).ToList();
        try
        {
            await Task.WhenAll(workers.Select(w => w.ReadToEndAsync()));
            foreach (var w in workers)
            {
                Assert.True(w.Process.ExitCode == 0 && w.Lines.Any(l => l.StartsWith("DONE ", StringComparison.Ordinal)),
                    $"worker {w.Process.Id} exited with {w.Process.ExitCode} after {string.Join(" | ", w.Lines.TakeLast(3))}:\n{await w.ErrorsAsync()}");
            }
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
        var report = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero });
        Assert.True(report.Clean, string.Join("\n", report.Problems));
    }

    internal sealed class Worker : IDisposable
    {
        private readonly List<string> _lines = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _pump;
        private readonly Task<string> _errors;

        private Worker(Process process)
        {
            Process = process;
            _errors = process.StandardError.ReadToEndAsync();
            _pump = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line)
                {
                    lock (_lines) _lines.Add(line);
                    if (line == "READY") _ready.TrySetResult();
                }
                _ready.TrySetException(new InvalidOperationException("the worker ended before it was ready: " + await _errors));
            });
        }

        public Process Process { get; }

        public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToList(); } }

        /// <summary>What the worker wrote to stderr (an unexpected exception), once it has exited.</summary>
        public Task<string> ErrorsAsync() => _errors;

        public static Worker Start(FileSystemFixture f, string command, Guid dir, params string[] rest)
        {
            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var root = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
            var dll = Path.Combine(root, "tests", "CassaFS.FsWorker", "bin", configuration, "net10.0", "CassaFS.FsWorker.dll");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            foreach (var a in new[] { dll, command, f.ContactPoint, f.ZooKeeperConnect, f.Keyspace, dir.ToString() }.Concat(rest)) psi.ArgumentList.Add(a);
            return new Worker(Process.Start(psi)!);
        }

        public Task WaitReadyAsync() => _ready.Task.WaitAsync(TimeSpan.FromSeconds(60));

        public async Task<IReadOnlyList<string>> ReadToEndAsync()
        {
            try
            {
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"worker {Process.Id} still running after 4 min; its last output: {string.Join(" | ", Lines.TakeLast(5))}", e);
            }
            await _pump;
            return Lines;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill();
            Process.Dispose();
        }
    }
}

/// <summary>The crash test has a filesystem of its own: fsck checks the whole filesystem, and other tests' work must not show there.</summary>
public sealed class CrashTests(FileSystemFixture f) : IClassFixture<FileSystemFixture>
{
    private CassaFileSystem Fs => f.Fs;

    [Fact]
    public async Task Processes_killed_at_random_points_leave_only_what_fsck_repairs_and_fsynced_data_survives()
    {
        var dir = await Fs.ScratchAsync();
        var random = new Random(20261121);
        var promised = new Dictionary<string, string>();
        for (var round = 0; round < 3; round++)
        {
            using var worker = MultiProcessTests.Worker.Start(f, "crash", dir.Id, random.Next().ToString(CultureInfo.InvariantCulture));
            await worker.WaitReadyAsync();
            await Task.Delay(random.Next(1500, 4000));
            worker.Process.Kill(); // SIGKILL, wherever it is: mid-write, mid-rename, mid-unlink
            await worker.Process.WaitForExitAsync();
            foreach (var line in worker.Lines.Where(l => l.StartsWith("SYNCED ", StringComparison.Ordinal)))
            {
                var parts = line.Split(' ');
                promised[parts[1]] = parts[2];
            }
        }
        Assert.NotEmpty(promised);
        // A killed client's last requests may still be queued inside Cassandra, and run there until the server's
        // own write and Paxos timeouts (5 s on the local nodes): only after that is the state it left final. Its
        // locks go when its ZooKeeper session (10 s) expires.
        await Task.Delay(TimeSpan.FromSeconds(12));
        var repaired = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero, Repair = true });
        var after = await Fsck.RunAsync(Fs, new FsckOptions { Grace = TimeSpan.Zero });
        Assert.True(after.Clean, "left after repair:\n" + string.Join("\n", after.Problems) + "\nrepaired:\n" + string.Join("\n", repaired.Problems));
        foreach (var (name, sha) in promised)
        {
            var file = await Fs.LookupAsync(dir.Id, name, Root);
            Assert.Equal(sha, Convert.ToHexString(SHA256.HashData(await Fs.ReadFileAsync(file.Id))));
        }
    }

}
