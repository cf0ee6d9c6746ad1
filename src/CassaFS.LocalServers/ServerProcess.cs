using System.Diagnostics;
using System.Globalization;

namespace CassaFS.LocalServers;

/// <summary>
/// One server JVM, started in its own session so that it outlives nothing but is owned by a run folder: its PID
/// is written beside its state, so a later run can reap it if the owner died without stopping it.
/// <para>Whether it still runs is asked of the child itself (waitpid, through the <see cref="Process"/> that
/// started it), not read from /proc: a thread-group leader can show as a zombie in /proc while the rest of the JVM
/// is still exiting (its ports still bound), and a command line read mid-exec says nothing. waitpid reports the exit
/// exactly, once every thread is gone. /proc is left to <see cref="IsOurs"/>, for PIDs of other runs.</para>
/// </summary>
internal sealed class ServerProcess : IDisposable
{
    public const string PidFileName = "server.pid";

    /// <summary>How long a SIGKILLed server may take to be gone (a large heap is torn down after the signal).</summary>
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(60);

    private readonly Process _child;

    private ServerProcess(Process child, string stateDirectory, string logPath)
    {
        _child = child;
        Pid = child.Id;
        StateDirectory = stateDirectory;
        LogPath = logPath;
    }

    public int Pid { get; }
    public string StateDirectory { get; }
    public string LogPath { get; }

    /// <summary>True until the process has exited, every thread of it.</summary>
    public bool IsRunning => !_child.HasExited;

    /// <summary>The exit code once it has exited (128 + n after signal n, as a shell reports it); null while it runs.</summary>
    public int? ExitCode => _child.HasExited ? _child.ExitCode : null;

    public static ServerProcess Launch(string executable, IReadOnlyList<string> arguments, string stateDirectory, string logPath)
    {
        Directory.CreateDirectory(stateDirectory);
        // setsid: the server gets its own session, so a terminal's Ctrl+C reaches the owner, which stops it cleanly.
        // (setsid forks only when it leads its process group, which a child of .NET never does, so the PID stays
        // the server's.) sh -c exec: output goes straight to the log file, so the server never blocks on a pipe
        // nobody reads.
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = stateDirectory };
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" >>\"$CASSAFS_SERVER_LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(executable);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["CASSAFS_SERVER_LOG"] = logPath;
        var child = Process.Start(psi) ?? throw new LocalServersException($"Could not start {executable}.");
        File.WriteAllText(Path.Combine(stateDirectory, PidFileName), child.Id.ToString(CultureInfo.InvariantCulture));
        return new ServerProcess(child, stateDirectory, logPath);
    }

    /// <summary>SIGTERM, then SIGKILL if it has not exited within the grace period.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!IsRunning) return;
        Shell.Signal(Pid, Shell.SIGTERM);
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline)
        {
            if (!IsRunning) return;
            await Task.Delay(50).ConfigureAwait(false);
        }
        Kill();
    }

    /// <summary>SIGKILL now, as a crash would; returns once the process is gone, so its ports are free again.</summary>
    public void Kill()
    {
        if (!IsRunning) return;
        Shell.Signal(Pid, Shell.SIGKILL);
        var clock = Stopwatch.StartNew();
        while (IsRunning)
        {
            if (clock.Elapsed > KillWait)
                throw new LocalServersException($"Server process {Pid} ({StateDirectory}) was sent SIGKILL but has not exited after {KillWait.TotalSeconds:F0} s.");
            Thread.Sleep(25);
        }
    }

    /// <summary>
    /// For a PID read from another run's folder (no child of ours): true when it is alive (not a zombie) and its
    /// command line mentions the state folder, which guards against PID reuse. While a launcher execs its way into
    /// the JVM the command line can read empty for an instant: that is still the server.
    /// </summary>
    public static bool IsOurs(int pid, string stateDirectory)
    {
        if (!Shell.IsAlive(pid) || Shell.IsZombie(pid)) return false;
        var commandLine = Shell.CommandLine(pid);
        return commandLine.Length == 0 || commandLine.Contains(stateDirectory, StringComparison.Ordinal);
    }

    public string LogTail(int lines = 30)
    {
        try
        {
            using var fs = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(fs);
            return Prerequisites.Tail(reader.ReadToEnd(), lines);
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>Lets go of the child's handle; call only once it has exited (a running server is stopped first).</summary>
    public void Dispose() => _child.Dispose();
}
