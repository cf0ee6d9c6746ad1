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
        var testArgs = args.Where(a => a != "--serve").ToArray();

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

        if (serveOnly)
        {
            foreach (var (k, v) in environment) Console.WriteLine($"export {k}={v}");
            Log("serving until Ctrl+C");
            var stop = new TaskCompletionSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
            await stop.Task.ConfigureAwait(false);
            return 0;
        }

        if (await build.ConfigureAwait(false) is not 0 and var buildExit)
        {
            Log("build failed");
            return buildExit;
        }
        var results = Path.Combine(root, "artifacts", "test-results");
        if (Directory.Exists(results)) Directory.Delete(results, recursive: true);
        var testCommand = new List<string>
        {
            "test", "CassaFS.sln", "-c", "Release", "--no-build", "-nologo",
            "--logger", "trx", "--logger", "console;verbosity=normal", "--results-directory", results,
            "--blame-hang-timeout", "10m",
        };
        testCommand.AddRange(testArgs);
        var tests = await RunAsync("dotnet", testCommand, root, environment).ConfigureAwait(false);
        var (passed, failed, skipped) = CountResults(results);

        var pester = await RunPesterAsync(root, environment).ConfigureAwait(false);

        Log($"finished in {Clock.Elapsed.TotalMinutes:F1} min");
        // The plain closing line CI reads: "N passed, N failed".
        Console.WriteLine($"Tests: {passed} passed, {failed} failed, {skipped} skipped");
        return tests != 0 || failed > 0 || pester != 0 ? 1 : 0;
    }

    private static async Task<int> RunPesterAsync(string root, Dictionary<string, string> environment)
    {
        var pwsh = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "pwsh")).FirstOrDefault(File.Exists);
        if (pwsh is null)
        {
            Log("Pester suite SKIPPED: pwsh is not installed on this machine (tests/pester runs wherever pwsh and Pester 5 exist, via build.ps1 Test or this command).");
            return 0;
        }
        var command = "if (-not (Get-Module -ListAvailable Pester | Where-Object Version -ge '5.0.0')) { Write-Host 'Pester suite SKIPPED: Pester 5 is not installed (Install-Module Pester -MinimumVersion 5.0)'; exit 0 }; " +
                      "$c = New-PesterConfiguration; $c.Run.Path = 'tests/pester'; $c.Run.Exit = $true; $c.Output.Verbosity = 'Detailed'; Invoke-Pester -Configuration $c";
        return await RunAsync(pwsh, new[] { "-NoProfile", "-NonInteractive", "-Command", command }, root, environment).ConfigureAwait(false);
    }

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
