using System.Globalization;

namespace CassaFS.LocalServers;

/// <summary>
/// Run folders under <see cref="Paths.RunsRoot"/>: each records the process that owns it. A run whose owner is gone
/// (a test run killed midway) is reaped by the next one: its servers are killed and its data deleted, its logs kept.
/// </summary>
public static class RunRegistry
{
    private const string OwnerFileName = "owner";
    private const int RunsKept = 10;

    /// <summary>Creates a fresh run folder owned by this process, after reaping every orphaned one.</summary>
    public static string CreateRun(string purpose, Action<string>? log = null)
    {
        Reap(log);
        var name = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}-{purpose}-{Guid.NewGuid().ToString("N")[..6]}");
        var dir = Path.Combine(Paths.RunsRoot, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, OwnerFileName), $"{Environment.ProcessId} {ProcessStartTicks(Environment.ProcessId)}");
        return dir;
    }

    /// <summary>Kills the servers of runs whose owner process is gone and deletes their data; returns how many servers it killed.</summary>
    public static int Reap(Action<string>? log = null)
    {
        if (!Directory.Exists(Paths.RunsRoot)) return 0;
        var killed = 0;
        foreach (var run in Directory.GetDirectories(Paths.RunsRoot))
        {
            if (OwnerAlive(run)) continue;
            foreach (var pidFile in Directory.GetFiles(run, ServerProcess.PidFileName, SearchOption.AllDirectories))
            {
                if (!int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)) continue;
                var state = Path.GetDirectoryName(pidFile)!;
                if (ServerProcess.IsOurs(pid, state))
                {
                    log?.Invoke($"reaping server {pid} left behind by {Path.GetFileName(run)}");
                    Shell.Signal(pid, Shell.SIGKILL);
                    for (var i = 0; i < 200 && !Shell.HasExited(pid); i++) Thread.Sleep(25);
                    killed++;
                }
                File.Delete(pidFile);
            }
            DeleteData(run);
        }
        Prune();
        return killed;
    }

    /// <summary>Deletes everything in a run folder but its logs (*.log, *.cfg, *.yaml stay for post-mortems).</summary>
    public static void DeleteData(string runDirectory)
    {
        foreach (var dir in Directory.GetDirectories(runDirectory, "*", SearchOption.AllDirectories)
                     .Where(d => Path.GetFileName(d) is "data" or "commitlog" or "saved_caches" or "zkdata"))
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        var owner = Path.Combine(runDirectory, OwnerFileName);
        if (File.Exists(owner)) File.Move(owner, owner + ".ended", overwrite: true);
    }

    private static void Prune()
    {
        var ended = Directory.GetDirectories(Paths.RunsRoot).Where(r => !OwnerAlive(r)).OrderByDescending(r => r, StringComparer.Ordinal).Skip(RunsKept);
        foreach (var old in ended)
        {
            try { Directory.Delete(old, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool OwnerAlive(string runDirectory)
    {
        var ownerFile = Path.Combine(runDirectory, OwnerFileName);
        if (!File.Exists(ownerFile)) return false;
        var parts = File.ReadAllText(ownerFile).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], out var pid)) return false;
        return Shell.IsAlive(pid) && ProcessStartTicks(pid) == parts[1];
    }

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks): with the PID it names one process for good.</summary>
    private static string ProcessStartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return afterName[19];
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
