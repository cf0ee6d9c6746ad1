using System.Diagnostics;
using System.Globalization;

namespace CassaFS.Benchmarks;

/// <summary>What the suites that go through a real mount share: the shell, the mount daemon, its peak memory, verdicts.</summary>
internal static class Daemon
{
    public static string Verdict(bool met) => met ? "MET" : "NOT MET";

    /// <summary>VmHWM: the process's peak resident set so far.</summary>
    public static long PeakRss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>The median of the rounds' figures (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Runs a shell script and returns what it printed; fails with its standard error when it fails.</summary>
    public static async Task<string> ShellOutput(string script, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var err = await p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new InvalidOperationException($"'{script}' failed ({p.ExitCode}): {err}");
        return await output;
    }

    public static Task Shell(string script, CancellationToken ct) => ShellOutput(script, ct);

    /// <summary>The mount daemon (Release build of the CLI, built here if missing), running as its own process.</summary>
    public static async Task<string> CliAsync(CancellationToken ct)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        var dll = Path.Combine(root, "src", "CassaFS.Cli", "bin", "Release", "net10.0", "cassafs-cli.dll");
        Console.WriteLine("building the CLI (Release) for the mount daemon ...");
        await Shell($"cd '{root}' && dotnet build src/CassaFS.Cli -c Release -v q -nologo > /dev/null", ct);
        return dll;
    }

    public static async Task<Process> StartAsync(string dll, string mountPoint, Dictionary<string, string> environment, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { dll, "mount", mountPoint }) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        while (await p.StandardOutput.ReadLineAsync(ct) is { } line)
        {
            if (line.StartsWith("MOUNTED ", StringComparison.Ordinal))
            {
                _ = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return p;
            }
        }
        throw new InvalidOperationException("the mount daemon exited before it mounted");
    }
}
