using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Xml.Linq;
using CassaFS.LocalServers;

namespace CassaFS.TestHost;

/// <summary>
/// The README's test command: installs what is missing, starts one Cassandra and one ZooKeeper for the whole run,
/// builds and runs every test project against them, runs the Pester suite where pwsh exists, stops the servers.
/// <c>--serve</c> only starts the servers and prints the variables that point tests at them, until Ctrl+C.
/// </summary>
internal static class Program
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    private static async Task<int> Main(string[] args)
    {
        var root = FindRepositoryRoot();
        var serveOnly = args.Contains("--serve");
        var pesterOnly = args.Contains("--pester");
        var testArgs = args.Where(a => a is not "--serve" and not "--pester").ToArray();

        Log($"CassaFS test run in {root}");
        await Prerequisites.EnsureJavaAsync(Log).ConfigureAwait(false);
        await Prerequisites.EnsureZooKeeperAsync(Log).ConfigureAwait(false);
        await Prerequisites.EnsureFuseAsync(Log).ConfigureAwait(false);
        var distribution = await CassandraDistribution.EnsureAsync(Log).ConfigureAwait(false);
        Log(distribution.WasCached ? $"Cassandra 2.1.0 reused from the cache ({distribution.Home})" : $"Cassandra 2.1.0 downloaded once into {distribution.Home}");

        await using var run = await LocalRun.CreateAsync("test-run", Log).ConfigureAwait(false);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => run.DisposeAsync().AsTask().GetAwaiter().GetResult());
        // The servers start while the solution builds: neither waits for the other.
        var cassandraStart = run.StartCassandraAsync();
        var zookeeperStart = run.StartZooKeeperAsync();
        var build = serveOnly ? Task.FromResult(0) : RunAsync("dotnet", new[] { "build", "CassaFS.sln", "-c", "Release", "-nologo", "-clp:ErrorsOnly;Summary" }, root, new Dictionary<string, string>());
        var cassandra = await cassandraStart.ConfigureAwait(false);
        var zookeeper = await zookeeperStart.ConfigureAwait(false);
        Log($"server start-up: Cassandra {cassandra.StartupTime.TotalSeconds:F1} s, ZooKeeper {zookeeper.StartupTime.TotalSeconds:F1} s");
        var environment = new Dictionary<string, string>
        {
            ["CASSAFS_TEST_CASSANDRA"] = cassandra.ContactPoint,
            ["CASSAFS_TEST_ZOOKEEPER"] = zookeeper.ConnectString,
        };

        using var watching = new CancellationTokenSource();
        var watch = WatchAsync(cassandra, zookeeper, watching.Token);
        if (serveOnly)
        {
            foreach (var (k, v) in environment) Console.WriteLine($"export {k}={v}");
            Log("serving until Ctrl+C");
            var stop = new TaskCompletionSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
            var first = await Task.WhenAny(stop.Task, watch).ConfigureAwait(false);
            watching.Cancel();
            return first == watch ? 3 : 0;
        }

        if (await build.ConfigureAwait(false) is not 0 and var buildExit)
        {
            Log("build failed");
            watching.Cancel();
            return buildExit;
        }
        var results = Path.Combine(root, "artifacts", "test-results");
        if (Directory.Exists(results)) Directory.Delete(results, recursive: true);
        if (pesterOnly)
        {
            var only = await RunPesterAsync(root, results, environment).ConfigureAwait(false);
            foreach (var line in FailedTests(results)) Log(line);
            Console.WriteLine($"Tests: {only.Passed} passed, {only.Failed} failed, {only.Skipped} skipped");
            watching.Cancel();
            return only.Exit != 0 || only.Failed > 0 ? 1 : 0;
        }
        List<string> TestCommand(string target) =>
        [
            "test", target, "-c", "Release", "--no-build", "-nologo",
            "--logger", "trx", "--logger", "console;verbosity=normal", "--results-directory", results,
            "--blame-hang-timeout", "10m",
        ];
        var tests = 0;
        var testCommand = TestCommand("CassaFS.sln");
        if (!testArgs.Contains("--filter"))
        {
            // fusermount3's auto_unmount watcher finds its mount by reading /proc/mounts, and a reader can miss an
            // entry while other mounts come and go (the projects run in parallel, several of them mount): the
            // SIGKILLed host's mount then stayed behind. So the host-process tests run first, with no other test
            // mounting, and the rest after them.
            var quiet = TestCommand(Path.Combine("tests", "CassaFS.Fuse.Tests", "CassaFS.Fuse.Tests.csproj"));
            quiet.AddRange(["--filter", $"FullyQualifiedName~{QuietMountTests}"]);
            tests = await RunAsync("dotnet", quiet, root, environment).ConfigureAwait(false);
            testCommand.AddRange(["--filter", $"FullyQualifiedName!~{QuietMountTests}"]);
        }
        testCommand.AddRange(testArgs);
        tests |= await RunAsync("dotnet", testCommand, root, environment).ConfigureAwait(false);
        var (passed, failed, skipped) = CountResults(results);

        var pester = await RunPesterAsync(root, results, environment).ConfigureAwait(false);

        // The names of failed tests again at the end, where a log cut to its tail still shows them.
        foreach (var line in FailedTests(results)) Log(line);
        Log($"finished in {Clock.Elapsed.TotalMinutes:F1} min (xunit: {passed} passed, {failed} failed, {skipped} skipped; Pester: {pester.Passed} passed, {pester.Failed} failed, {pester.Skipped} skipped)");
        // The plain closing line CI reads: "N passed, N failed", xunit and Pester together.
        Console.WriteLine($"Tests: {passed + pester.Passed} passed, {failed + pester.Failed} failed, {skipped + pester.Skipped} skipped");
        watching.Cancel();
        return tests != 0 || failed > 0 || pester.Exit != 0 || pester.Failed > 0 ? 1 : 0;
    }

    /// <summary>
    /// The Pester suite under the repository's pinned pwsh (.config/dotnet-tools.json) with the Pester module NuGet
    /// restored for this project (its tools/ folder laid out as Pester/5.9.1 on PSModulePath). Its counts come from the
    /// NUnit result file Pester writes; a pwsh that cannot be restored is a failure, not a skip.
    /// </summary>
    private static async Task<(int Exit, int Passed, int Failed, int Skipped)> RunPesterAsync(string root, string results, Dictionary<string, string> environment)
    {
        var started = Clock.Elapsed;
        if (await RunAsync("dotnet", new[] { "tool", "restore" }, root, environment).ConfigureAwait(false) is not 0 and var restoreExit)
        {
            Log("Pester suite FAILED to start: `dotnet tool restore` could not restore pwsh (PowerShell 7.6.10) from NuGet");
            return (restoreExit, 0, 1, 0);
        }
        var modules = PesterModules.LayOut(root);
        var pesterEnvironment = new Dictionary<string, string>(environment)
        {
            ["PSModulePath"] = modules,
            ["POWERSHELL_TELEMETRY_OPTOUT"] = "1",
            ["POWERSHELL_UPDATECHECK"] = "Off",
        };
        Directory.CreateDirectory(results);
        var resultFile = Path.Combine(results, "pester.xml");
        var command = "Import-Module Pester -RequiredVersion 5.9.1 -ErrorAction Stop; " +
                      "$c = New-PesterConfiguration; $c.Run.Path = 'tests/pester'; $c.Run.Exit = $true; $c.Output.Verbosity = 'Detailed'; " +
                      $"$c.TestResult.Enabled = $true; $c.TestResult.OutputFormat = 'NUnitXml'; $c.TestResult.OutputPath = '{resultFile.Replace("'", "''", StringComparison.Ordinal)}'; " +
                      "Invoke-Pester -Configuration $c";
        var exit = await RunAsync("dotnet", new[] { "tool", "run", "pwsh", "-NoProfile", "-NonInteractive", "-Command", command }, root, pesterEnvironment).ConfigureAwait(false);
        var (passed, failed, skipped) = PesterModules.CountResults(resultFile);
        if (exit != 0 && failed == 0) failed = 1; // pwsh or Pester itself failed before writing results
        Log($"Pester suite: {passed} passed, {failed} failed, {skipped} skipped in {(Clock.Elapsed - started).TotalSeconds:F0} s");
        return (exit, passed, failed, skipped);
    }

    /// <summary>
    /// Notices a server that died while serving (an OutOfMemoryError exits the JVM) and says so at once, with where its
    /// log is, instead of letting every later test fail with "connection refused". Completes when one died.
    /// </summary>
    private static async Task WatchAsync(CassandraNode cassandra, ZooKeeperServer zookeeper, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var dead = !cassandra.IsRunning ? $"Cassandra ({cassandra.ContactPoint}) exited; its log: {cassandra.LogPath} and {cassandra.ConsoleLogPath}"
                : !zookeeper.IsRunning ? $"ZooKeeper ({zookeeper.ConnectString}) exited; its log is in {zookeeper.StateDirectory}"
                : null;
            if (dead is null) continue;
            Log($"SERVER DIED: {dead}. Tests from now on fail to connect; start the servers again (--serve, or rerun the test command).");
            return;
        }
    }

    /// <summary>The tests that must run while nothing else mounts (see where they are run).</summary>
    private const string QuietMountTests = "CassaFS.Fuse.Tests.MountHostProcessTests";

    private static (int Passed, int Failed, int Skipped) CountResults(string resultsDirectory)
    {
        int passed = 0, failed = 0, skipped = 0;
        if (!Directory.Exists(resultsDirectory)) return (0, 0, 0);
        foreach (var trx in Directory.GetFiles(resultsDirectory, "*.trx", SearchOption.AllDirectories))
        {
            var counters = XDocument.Load(trx).Descendants().FirstOrDefault(e => e.Name.LocalName == "Counters");
            if (counters is null) continue;
            int Read(string name) => int.TryParse(counters.Attribute(name)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
            passed += Read("passed");
            failed += Read("failed") + Read("error") + Read("timeout") + Read("aborted");
            skipped += Read("notExecuted");
        }
        return (passed, failed, skipped);
    }

    /// <summary>One line per failed test in the trx and Pester result files: its name and its message's first line.</summary>
    private static IEnumerable<string> FailedTests(string resultsDirectory)
    {
        if (!Directory.Exists(resultsDirectory)) yield break;
        static string FirstLine(string? text) => (text ?? "").Trim().Split('\n')[0].Trim();
        foreach (var trx in Directory.GetFiles(resultsDirectory, "*.trx", SearchOption.AllDirectories))
        {
            foreach (var result in XDocument.Load(trx).Descendants().Where(e => e.Name.LocalName == "UnitTestResult" && (string?)e.Attribute("outcome") is "Failed" or "Error" or "Timeout" or "Aborted"))
            {
                var message = result.Descendants().FirstOrDefault(e => e.Name.LocalName == "Message")?.Value;
                yield return $"FAILED (xunit) {(string?)result.Attribute("testName")}: {FirstLine(message)}";
            }
        }
        var pester = Path.Combine(resultsDirectory, "pester.xml");
        if (!File.Exists(pester)) yield break;
        foreach (var testCase in XDocument.Load(pester).Descendants("test-case").Where(e => (string?)e.Attribute("result") is "Failure" or "Error"))
            yield return $"FAILED (Pester) {(string?)testCase.Attribute("description") ?? (string?)testCase.Attribute("name")}: {FirstLine(testCase.Descendants("message").FirstOrDefault()?.Value)}";
    }

    private static async Task<int> RunAsync(string file, IEnumerable<string> args, string workingDirectory, Dictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        Log($"$ {file} {string.Join(' ', psi.ArgumentList)}");
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        await p.WaitForExitAsync().ConfigureAwait(false);
        return p.ExitCode;
    }

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "CassaFS.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Run this from inside the CassaFS repository (no CassaFS.sln found above the current folder).");
    }

    private static void Log(string message) => Console.WriteLine($"[test-run {Clock.Elapsed.TotalSeconds,6:F1}s] {message}");
}
