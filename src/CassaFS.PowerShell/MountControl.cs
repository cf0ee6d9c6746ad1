using System.Diagnostics;
using System.Globalization;
using System.Text;
using CassaFS.Client;

namespace CassaFS.PowerShell;

/// <summary>Start-CassaMount or Stop-CassaMount failed: says why (the CLI's own message) and the cure.</summary>
public sealed class MountException : Exception
{
    public MountException(string mountPoint, string message, Exception? inner = null) : base(message, inner) => MountPoint = mountPoint;

    public string MountPoint { get; }
}

/// <summary>How to run the cassafs CLI: an executable, or a .dll run with dotnet.</summary>
public sealed record CliCommand(string FileName, IReadOnlyList<string> PrefixArguments)
{
    public override string ToString() => string.Join(' ', new[] { FileName }.Concat(PrefixArguments));
}

/// <summary>What Start-CassaMount asks for.</summary>
public sealed record MountRequest
{
    public required string MountPoint { get; init; }
    public required ClientSettings Servers { get; init; }
    /// <summary>-o options as the CLI takes them ("ro", "attr_timeout=1").</summary>
    public IReadOnlyList<string> Options { get; init; } = [];
}

/// <summary>A CassaFS mount on this machine, as Get-CassaMount shows it: the CLI's <see cref="MountStatus"/> under the names PowerShell users read.</summary>
public sealed record MountView
{
    private readonly MountStatus _mount;

    public MountView(MountStatus mount) => _mount = mount ?? throw new ArgumentNullException(nameof(mount));

    public string MountPoint => _mount.MountPoint;
    public bool Mounted => _mount.Mounted;
    public bool DaemonAlive => _mount.DaemonAlive;

    /// <summary>The daemon's pid; null when there is no state file, or its pid is not known.</summary>
    public int? ProcessId => _mount.State is { Pid: > 0 } state ? state.Pid : null;

    public string? Keyspace => _mount.State?.Keyspace;
    public string? Cassandra => _mount.State?.Cassandra;
    public string? ZooKeeper => _mount.State?.ZooKeeper;
    public string? LockMode => _mount.State?.LockMode;
    public bool ReadOnly => _mount.State?.ReadOnly ?? false;
    public DateTimeOffset? Since => _mount.State?.Since;

    /// <summary>"mounted", "mounted, daemon not found", or "stale".</summary>
    public string Status => !Mounted ? "stale" : DaemonAlive ? "mounted" : "mounted, daemon not found";
}

/// <summary>
/// Start-/Stop-/Get-CassaMount: runs `cassafs mount --background` (which prints MOUNTED once the kernel answers),
/// `cassafs umount` and `cassafs status --json`. The password goes through CASSAFS_PASSWORD, never the command line.
/// </summary>
public sealed class MountControl
{
    /// <param name="cli">Where the CLI is.</param>
    /// <param name="environment">Extra environment for every CLI run (CASSAFS_STATE_DIR, for instance).</param>
    public MountControl(CliCommand cli, IReadOnlyDictionary<string, string>? environment = null)
    {
        Cli = cli ?? throw new ArgumentNullException(nameof(cli));
        Environment = environment ?? new Dictionary<string, string>();
    }

    public CliCommand Cli { get; }

    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>
    /// Finds the CLI: <paramref name="explicitPath"/>, else $CASSAFS_CLI, else the module's cli/ folder (cassafs, cassafs-cli.dll),
    /// else `cassafs` on PATH.
    /// </summary>
    public static CliCommand LocateCli(string? explicitPath, string? moduleDirectory, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var given = !string.IsNullOrEmpty(explicitPath) ? explicitPath : environment("CASSAFS_CLI");
        if (!string.IsNullOrEmpty(given))
        {
            if (!File.Exists(given)) throw new MountException("", $"The cassafs CLI was not found at '{given}' (from -CassaFsPath or CASSAFS_CLI). Point it at cassafs or cassafs-cli.dll.");
            return ForFile(given);
        }
        if (!string.IsNullOrEmpty(moduleDirectory))
        {
            foreach (var name in new[] { "cassafs", "cassafs-cli.dll" })
            {
                var candidate = Path.Combine(moduleDirectory, "cli", name);
                if (File.Exists(candidate)) return ForFile(candidate);
            }
        }
        foreach (var dir in (environment("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "cassafs");
            if (File.Exists(candidate)) return new CliCommand(candidate, []);
        }
        throw new MountException("", "The cassafs CLI was not found: not in the module's cli/ folder, not on PATH. Pass -CassaFsPath or set CASSAFS_CLI.");
    }

    private static CliCommand ForFile(string path) =>
        path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new CliCommand("dotnet", [Path.GetFullPath(path)]) : new CliCommand(Path.GetFullPath(path), []);

    /// <summary>The arguments of `cassafs mount` for a request (no password: that goes in the environment).</summary>
    public static IReadOnlyList<string> MountArguments(MountRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var s = request.Servers;
        var args = new List<string>
        {
            "mount", request.MountPoint, "--background",
            "--contact-points", string.Join(",", s.ContactPoints),
            "--port", s.Port.ToString(CultureInfo.InvariantCulture),
            "--keyspace", s.Keyspace,
            "--zookeeper", s.ZooKeeper,
            "--consistency", s.Consistency.ToString().ToLowerInvariant(),
            "--lock-mode", ClientSettings.Name(s.LockMode),
        };
        if (s.UserName is not null) args.AddRange(["--user", s.UserName]);
        foreach (var o in request.Options) args.AddRange(["-o", o]);
        return args;
    }

    /// <summary>
    /// Mounts and waits for the CLI's "MOUNTED &lt;dir&gt;" line, calling <paramref name="progress"/> with what it is doing
    /// (about twice a second). Returns the mount as `cassafs status` then sees it.
    /// </summary>
    /// <exception cref="MountException">The CLI failed (its message and exit code) or did not answer within <paramref name="timeout"/>.</exception>
    public async Task<MountView> StartAsync(MountRequest request, TimeSpan timeout, Action<string, TimeSpan>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var mountPoint = Path.GetFullPath(request.MountPoint);
        request = request with { MountPoint = mountPoint };
        var env = new Dictionary<string, string>();
        if (request.Servers.Password is not null) env["CASSAFS_PASSWORD"] = request.Servers.Password;
        using var process = Start(MountArguments(request), env);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var mounted = false;
        var clock = Stopwatch.StartNew();
        var lineTask = process.StandardOutput.ReadLineAsync(ct).AsTask();
        progress?.Invoke($"Starting cassafs mount on {mountPoint}", clock.Elapsed);
        while (!mounted)
        {
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                TryKill(process);
                throw new MountException(mountPoint, $"cassafs mount {mountPoint} did not report MOUNTED within {timeout.TotalSeconds:F0} s; check the servers and the daemon log in the CassaFS state directory.");
            }
            var done = await Task.WhenAny(lineTask, Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, left.TotalMilliseconds)), ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (done != lineTask)
            {
                progress?.Invoke($"Waiting for {mountPoint} to answer", clock.Elapsed);
                continue;
            }
            var line = await lineTask.ConfigureAwait(false);
            if (line is null) break;
            if (line.StartsWith("MOUNTED ", StringComparison.Ordinal)) mounted = true;
            else lineTask = process.StandardOutput.ReadLineAsync(ct).AsTask();
        }
        if (!mounted)
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            var error = (await stderr.ConfigureAwait(false)).Trim();
            throw new MountException(mountPoint, $"cassafs mount {mountPoint} failed (exit code {process.ExitCode}): {(error.Length == 0 ? "no message" : error)}");
        }
        progress?.Invoke($"Mounted {mountPoint}", clock.Elapsed);
        var status = await StatusAsync(ct).ConfigureAwait(false);
        // Status names the mount by the kernel's path, which can differ from the one given (a symbolic link on the
        // way): then the view says what was asked for, with the daemon's pid unknown.
        return status.FirstOrDefault(m => m.MountPoint == mountPoint)
               ?? new MountView(new MountStatus(mountPoint, "", true, true, new MountState
               {
                   MountPoint = mountPoint,
                   Pid = 0,
                   Keyspace = request.Servers.Keyspace,
                   Cassandra = string.Join(",", request.Servers.ContactPoints),
                   ZooKeeper = request.Servers.ZooKeeper,
                   LockMode = ClientSettings.Name(request.Servers.LockMode),
               }));
    }

    /// <summary>`cassafs umount`: unmounts and waits for the daemon to flush and exit.</summary>
    public async Task StopAsync(string mountPoint, bool lazy = false, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(mountPoint);
        var args = new List<string> { "umount", full };
        if (lazy) args.Add("--lazy");
        var (code, _, error) = await RunAsync(args, ct).ConfigureAwait(false);
        if (code != 0) throw new MountException(full, $"cassafs umount {full} failed (exit code {code}): {error.Trim()}");
    }

    /// <summary>`cassafs status --json`, parsed.</summary>
    public async Task<IReadOnlyList<MountView>> StatusAsync(CancellationToken ct = default)
    {
        var (code, output, error) = await RunAsync(["status", "--json"], ct).ConfigureAwait(false);
        if (code != 0) throw new MountException("", $"cassafs status failed (exit code {code}): {error.Trim()}");
        return ParseStatus(output);
    }

    /// <summary>Parses `cassafs status --json`: the CLI's <see cref="MountStatus"/> list, read with the record it was written from.</summary>
    public static IReadOnlyList<MountView> ParseStatus(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return [.. MountStatus.ParseList(json).Select(m => new MountView(m))];
    }

    private Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(Cli.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in Cli.PrefixArguments.Concat(args)) info.ArgumentList.Add(a);
        foreach (var (k, v) in Environment) info.Environment[k] = v;
        if (environment is not null)
            foreach (var (k, v) in environment) info.Environment[k] = v;
        try
        {
            var process = Process.Start(info) ?? throw new MountException("", $"Could not start {Cli}.");
            process.StandardInput.Close();
            return process;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new MountException("", $"Could not start the cassafs CLI ({Cli}): {e.Message}. Pass -CassaFsPath or set CASSAFS_CLI.", e);
        }
    }

    private async Task<(int Code, string Output, string Error)> RunAsync(IEnumerable<string> args, CancellationToken ct)
    {
        using var process = Start(args);
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    private static void TryKill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
