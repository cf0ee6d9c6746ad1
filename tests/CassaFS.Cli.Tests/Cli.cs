using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace CassaFS.Cli.Tests;

/// <summary>Runs the built `cassafs` (dotnet cassafs-cli.dll) and shell commands as separate processes.</summary>
internal static class Cli
{
    public static string Dll { get; } = Locate();

    private static string Locate()
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CassaFS.sln"))) root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        return Path.Combine(root, "src", "CassaFS.Cli", "bin", configuration, "net10.0", "cassafs-cli.dll");
    }

    public static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        return psi;
    }

    /// <summary>Runs `cassafs args...` to the end.</summary>
    public static Task<Result> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunAsync(StartInfo(environment, args), TimeSpan.FromMinutes(2));

    /// <summary>Runs a shell script in a directory.</summary>
    public static Task<Result> ShAsync(string directory, string script, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["TZ"] = "UTC";
        return RunAsync(psi, timeout ?? TimeSpan.FromMinutes(2));
    }

    private static async Task<Result> RunAsync(ProcessStartInfo psi, TimeSpan timeout)
    {
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} did not finish within {timeout}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public Result ShouldSucceed(string what)
        {
            Assert.True(ExitCode == 0, $"{what} failed with exit code {ExitCode}:\n{Out}\n{Err}");
            return this;
        }
    }
}

/// <summary>A mount daemon running as its own process (`cassafs mount DIR`), ready once it printed MOUNTED.</summary>
internal sealed class Daemon : IAsyncDisposable
{
    private readonly TaskCompletionSource _mounted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StringBuilder _output = new();
    private readonly Task _pumps;

    private Daemon(Process process, string mountPoint)
    {
        Process = process;
        MountPoint = mountPoint;
        _pumps = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
    }

    public Process Process { get; }
    public string MountPoint { get; }

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    private async Task Pump(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_output) _output.AppendLine(line);
            if (line == $"MOUNTED {MountPoint}") _mounted.TrySetResult();
        }
    }

    public static async Task<Daemon> StartAsync(IReadOnlyDictionary<string, string> environment, string mountPoint, params string[] extra)
    {
        Directory.CreateDirectory(mountPoint);
        var p = Process.Start(Cli.StartInfo(environment, ["mount", mountPoint, .. extra]))!;
        p.StandardInput.Close();
        var d = new Daemon(p, mountPoint);
        var first = await Task.WhenAny(d._mounted.Task, p.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(90)));
        if (first != d._mounted.Task)
        {
            var exited = p.HasExited; // read before the dispose, which lets go of the process
            await d.DisposeAsync();
            throw new InvalidOperationException($"the daemon for {mountPoint} did not mount (exited: {exited}):\n{d.Output}");
        }
        return d;
    }

    public void Signal(int signal) => Posix.Kill(Process.Id, signal);

    public async Task<bool> ExitsWithinAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
            await _pumps;
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Signal(Posix.SIGTERM);
            if (!await ExitsWithinAsync(TimeSpan.FromSeconds(30))) Process.Kill();
        }
        if (Posix.IsMounted(MountPoint)) await Cli.ShAsync("/", $"fusermount3 -u -z '{MountPoint}'");
        Process.Dispose();
    }
}
