using System.Diagnostics;
using System.Globalization;

namespace CassaFS.LocalServers;

/// <summary>
/// One server JVM, started in its own session so that it outlives nothing but is owned by a run folder: its PID
/// is written beside its state, so a later run can reap it if the owner died without stopping it.
/// </summary>
internal sealed class ServerProcess
{
    public const string PidFileName = "server.pid";

    private ServerProcess(int pid, string stateDirectory, string logPath)
    {
        Pid = pid;
        StateDirectory = stateDirectory;
        LogPath = logPath;
    }

    public int Pid { get; }
    public string StateDirectory { get; }
    public string LogPath { get; }

    /// <summary>True while the process exists and is still the one we started (its command line names our state).</summary>
    public bool IsRunning => IsOurs(Pid, StateDirectory);

    public static ServerProcess Launch(string executable, IReadOnlyList<string> arguments, string stateDirectory, string logPath)
    {
        Directory.CreateDirectory(stateDirectory);
        // setsid: the server gets its own session, so a terminal's Ctrl+C reaches the owner, which stops it cleanly.
        // sh -c exec: output goes straight to the log file, so the server never blocks on a pipe nobody reads.
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = stateDirectory };
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" >>\"$CASSAFS_SERVER_LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(executable);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["CASSAFS_SERVER_LOG"] = logPath;
        using var p = Process.Start(psi) ?? throw new LocalServersException($"Could not start {executable}.");
        File.WriteAllText(Path.Combine(stateDirectory, PidFileName), p.Id.ToString(CultureInfo.InvariantCulture));
        return new ServerProcess(p.Id, stateDirectory, logPath);
    }

    /// <summary>SIGTERM, then SIGKILL if it has not exited within the grace period.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!IsRunning) return;
        Shell.Signal(Pid, Shell.SIGTERM);
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline)
        {
            if (Shell.HasExited(Pid)) return;
            await Task.Delay(50).ConfigureAwait(false);
        }
        Kill();
    }

    /// <summary>SIGKILL now, as a crash would; waits until the process is gone.</summary>
    public void Kill()
    {
        if (!IsRunning) return;
        Shell.Signal(Pid, Shell.SIGKILL);
        for (var i = 0; i < 200 && !Shell.HasExited(Pid); i++) Thread.Sleep(25);
    }

    /// <summary>
    /// True when pid is alive (not a zombie) and its command line mentions the state folder, which guards against
    /// PID reuse. While the launcher execs its way into the JVM the command line can read empty for an instant:
    /// that is still ours.
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
}
