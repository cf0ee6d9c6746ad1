using System.Diagnostics;
using CassaFS.Client;

namespace CassaFS.Cli;

/// <summary>The mount daemon's life: serve in the foreground until unmounted, detach into the background, or unmount one.</summary>
public static class MountDaemon
{
    /// <summary>The line a mount prints on stdout once the mount answers (Start-CassaMount and --background wait for it).</summary>
    public const string MountedLine = "MOUNTED";

    /// <summary>
    /// Mounts and serves until unmounted (cassafs umount, umount, SIGTERM or SIGINT), then flushes and returns 0.
    /// With CASSAFS_DAEMON_LOG set (a detached daemon), output goes to that file once MOUNTED is printed.
    /// </summary>
    public static async Task<int> RunAsync(string mountPoint, ClientSettings settings, MountSettings mount, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var log = Console.Error;
        await using var running = await CassaMount.StartAsync(mountPoint, settings, mount, new MountRegistry(), m => log.WriteLine($"cassafs[{Environment.ProcessId}]: {m}"), ct).ConfigureAwait(false);
        Console.Out.WriteLine($"{MountedLine} {running.MountPoint}");
        Console.Out.Flush();
        if (Environment.GetEnvironmentVariable("CASSAFS_DAEMON_LOG") is { Length: > 0 } logPath)
        {
            // The parent that waited for MOUNTED is gone: its pipe must not be written to any more.
            var writer = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
            Console.SetOut(writer);
            Console.SetError(writer);
            log = writer;
        }
        log.WriteLine($"cassafs[{Environment.ProcessId}]: serving {running.MountPoint} ({ConnectionSettings.Describe(settings)}; max_write {running.Fuse.MaxWrite}, readahead {running.Fuse.ReadAheadKiB} KiB); stop with cassafs umount {running.MountPoint} or SIGTERM");
        await running.Completion.ConfigureAwait(false);
        log.WriteLine($"cassafs[{Environment.ProcessId}]: unmounted {running.MountPoint}, data flushed");
        return ExitCodes.Ok;
    }

    /// <summary>Re-runs this command detached (new session, output to a log file), waits for its MOUNTED line, and returns.</summary>
    public static async Task<int> StartDetachedAsync(string mountPoint, IReadOnlyList<string> arguments, CancellationToken ct)
    {
        var registry = new MountRegistry();
        Directory.CreateDirectory(registry.Directory);
        var logPath = Path.ChangeExtension(registry.PathFor(Path.GetFullPath(mountPoint)), ".log");
        var self = Environment.ProcessPath ?? throw new MountFailedException("cannot find this program's path to start the daemon");
        var command = new List<string>();
        if (string.Equals(Path.GetFileNameWithoutExtension(self), "dotnet", StringComparison.Ordinal))
        {
            command.Add(self);
            command.Add(typeof(MountDaemon).Assembly.Location);
        }
        else
        {
            command.Add(self);
        }
        var (rest, password) = WithoutPassword(arguments.Where(a => a is not ("--background" or "-b")).ToList());
        command.AddRange(rest);
        command.Add("--foreground");
        // setsid: the daemon gets its own session, so the terminal's Ctrl+C and hang-up do not reach it.
        var setsid = File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : null;
        var psi = new ProcessStartInfo(setsid ?? command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in setsid is null ? command.Skip(1) : command) psi.ArgumentList.Add(a);
        psi.Environment["CASSAFS_DAEMON_LOG"] = logPath;
        // Never on the daemon's command line, which every user reads in ps for as long as the mount lasts.
        if (password is not null) psi.Environment["CASSAFS_PASSWORD"] = password;
        using var child = Process.Start(psi) ?? throw new MountFailedException("could not start the mount daemon");
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync(ct);
        while (await child.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith(MountedLine + " ", StringComparison.Ordinal))
            {
                Console.WriteLine(line);
                Console.Error.WriteLine($"cassafs: daemon pid {child.Id} serves {line[(MountedLine.Length + 1)..]}; log {logPath}");
                return ExitCodes.Ok;
            }
        }
        await child.WaitForExitAsync(ct).ConfigureAwait(false);
        await Console.Error.WriteAsync(await errors.ConfigureAwait(false)).ConfigureAwait(false);
        return child.ExitCode == 0 ? ExitCodes.MountFailed : child.ExitCode;
    }

    /// <summary>The arguments without --password (as "--password x" or "--password=x"), and the password given.</summary>
    internal static (List<string> Arguments, string? Password) WithoutPassword(IReadOnlyList<string> arguments)
    {
        var rest = new List<string>();
        string? password = null;
        for (var i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] == "--password" && i + 1 < arguments.Count) password = arguments[++i];
            else if (arguments[i].StartsWith("--password=", StringComparison.Ordinal)) password = arguments[i]["--password=".Length..];
            else rest.Add(arguments[i]);
        }
        return (rest, password);
    }

    /// <summary>fusermount3 -u (-z when lazy), then waits up to 60 s for the daemon to flush and exit.</summary>
    public static async Task UnmountAsync(string mountPoint, bool lazy, MountRegistry registry, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var full = Path.GetFullPath(mountPoint).TrimEnd('/');
        if (MountRegistry.MountedAt(full) is null) throw new MountFailedException($"{full} is not mounted");
        var state = registry.Read(full);
        var psi = new ProcessStartInfo("fusermount3") { RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-u");
        if (lazy) psi.ArgumentList.Add("-z");
        psi.ArgumentList.Add(full);
        using (var p = Process.Start(psi) ?? throw new MountFailedException("could not run fusermount3 (install fuse3)"))
        {
            var err = await p.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
            if (p.ExitCode != 0)
            {
                var busy = err.Contains("busy", StringComparison.OrdinalIgnoreCase);
                throw new MountFailedException($"unmounting {full} failed: {err.Trim()}" +
                                               (busy ? $" Files are open under it (see: fuser -vm {full}); close them, or use --lazy to detach now." : ""));
            }
        }
        if (state is null) return;
        // The daemon stores what open files buffered, releases its locks and closes its sessions after the kernel
        // let go: wait for it to exit, so a script may unmount and then read the data from elsewhere.
        var deadline = DateTime.UtcNow + UnmountWait;
        while (MountRegistry.ProcessAlive(state.Pid) && DateTime.UtcNow < deadline)
            await Task.Delay(50, ct).ConfigureAwait(false);
        if (MountRegistry.ProcessAlive(state.Pid))
            throw new MountFailedException($"{full} is unmounted, but its daemon (pid {state.Pid}) is still running after {UnmountWait.TotalSeconds:F0} s: " +
                                           $"it may still be storing buffered writes (Cassandra slow or unreachable?). See its log ({Path.ChangeExtension(registry.PathFor(full), ".log")}); " +
                                           $"kill -TERM {state.Pid} asks it to finish.");
    }

    /// <summary>How long umount waits for the daemon to exit after the kernel let go.</summary>
    private static readonly TimeSpan UnmountWait = TimeSpan.FromSeconds(60);
}
