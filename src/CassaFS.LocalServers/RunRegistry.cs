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
        // Other processes reap concurrently: a run folder must never be seen without its owner. It is assembled
        // under a hidden name (which reapers skip) and renamed into place, owner file and all.
        var staging = Path.Combine(Paths.RunsRoot, "." + name);
        Directory.CreateDirectory(staging);
        File.WriteAllText(Path.Combine(staging, OwnerFileName), $"{Environment.ProcessId} {ProcessStartTicks(Environment.ProcessId)}");
        Directory.Move(staging, dir);
        return dir;
    }

    /// <summary>Kills the servers of runs whose owner process is gone and deletes their data; returns how many servers it killed.</summary>
    public static int Reap(Action<string>? log = null)
    {
        if (!Directory.Exists(Paths.RunsRoot)) return 0;
        var killed = 0;
        foreach (var run in RunFolders())
        {
            try
            {
                if (OwnerAlive(run)) continue;
                killed += ReapRun(run, log);
            }
            catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
            {
                // Another run's reaper pruned this folder while we looked: nothing left to reap.
            }
        }
        Prune();
        return killed;
    }

    private static int ReapRun(string run, Action<string>? log)
    {
        var killed = 0;
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
        var ended = RunFolders().Where(r => !OwnerAlive(r)).OrderByDescending(r => r, StringComparer.Ordinal).Skip(RunsKept);
        // A hidden folder older than an hour belongs to an owner that died while assembling it.
        var abandoned = Directory.GetDirectories(Paths.RunsRoot)
            .Where(d => Path.GetFileName(d).StartsWith('.') && Directory.GetCreationTimeUtc(d) < DateTime.UtcNow.AddHours(-1));
        foreach (var old in ended.Concat(abandoned))
        {
            try { Directory.Delete(old, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Run folders in place (hidden ones are still being assembled by their owner).</summary>
    private static IEnumerable<string> RunFolders() =>
        Directory.GetDirectories(Paths.RunsRoot).Where(d => !Path.GetFileName(d).StartsWith('.'));

    private static bool OwnerAlive(string runDirectory)
    {
        var ownerFile = Path.Combine(runDirectory, OwnerFileName);
        string[] parts;
        try
        {
            parts = File.ReadAllText(ownerFile).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return false; // ended (owner renamed), or pruned by another run's reaper meanwhile
        }
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
