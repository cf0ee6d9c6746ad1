using System.Globalization;
using System.Text;
using System.Text.Json;
using CassaFS.Client;
using CassaFS.Fuse;

namespace CassaFS.Cli;

/// <summary>The daemons' state files (<see cref="MountState"/>) and the kernel's mount table, read together.</summary>
public sealed class MountRegistry
{
    public MountRegistry(string? directory = null) => Directory = directory ?? DefaultDirectory();

    /// <summary>Where state files live: $CASSAFS_STATE_DIR, else /run/cassafs for root, else /tmp/cassafs-UID.</summary>
    public string Directory { get; }

    private static string DefaultDirectory()
    {
        var env = Environment.GetEnvironmentVariable("CASSAFS_STATE_DIR");
        if (!string.IsNullOrEmpty(env)) return env;
        return Environment.UserName == "root" && System.IO.Directory.Exists("/run") ? "/run/cassafs" : $"/tmp/cassafs-{Environment.UserName}";
    }

    public string PathFor(string mountPoint)
    {
        var name = new StringBuilder();
        foreach (var c in mountPoint.Trim('/')) name.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_');
        return Path.Combine(Directory, (name.Length == 0 ? "root" : name.ToString()) + ".json");
    }

    public void Record(MountState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        System.IO.Directory.CreateDirectory(Directory);
        var path = PathFor(state.MountPoint);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(state, MountState.Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public void Forget(string mountPoint)
    {
        try
        {
            File.Delete(PathFor(mountPoint));
        }
        catch (IOException)
        {
        }
    }

    public MountState? Read(string mountPoint) => ReadFile(PathFor(mountPoint));

    private static MountState? ReadFile(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<MountState>(File.ReadAllText(path), MountState.Json);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>CassaFS mounts the kernel knows (type fuse.cassafs), plus state files of daemons whose mount is gone (stale).</summary>
    public IReadOnlyList<MountStatus> List()
    {
        var result = new List<MountStatus>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (source, mountPoint) in KernelMounts())
        {
            var state = Read(mountPoint);
            seen.Add(mountPoint);
            result.Add(new MountStatus(mountPoint, source, true, state is not null && ProcessAlive(state.Pid), state));
        }
        if (System.IO.Directory.Exists(Directory))
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
            {
                if (ReadFile(file) is { } state && !seen.Contains(state.MountPoint))
                    result.Add(new MountStatus(state.MountPoint, "", false, ProcessAlive(state.Pid), state));
            }
        }
        return result;
    }

    /// <summary>(source, mount point) of every CassaFS mount in the kernel's mount table.</summary>
    public static IEnumerable<(string Source, string MountPoint)> KernelMounts() =>
        MountTable.Read()
            .Where(e => e.FileSystemType == "fuse.cassafs" || e.Source.StartsWith("cassafs", StringComparison.Ordinal) && e.FileSystemType.StartsWith("fuse", StringComparison.Ordinal))
            .Select(e => (e.Source, e.MountPoint));

    /// <summary>Whether something (of any kind) is mounted exactly at <paramref name="mountPoint"/>.</summary>
    public static string? MountedAt(string mountPoint) =>
        MountTable.Find(mountPoint) is { } e ? $"{e.FileSystemType} from '{e.Source}'" : null;

    /// <summary>True while <paramref name="pid"/> runs (a zombie has exited: its parent, perhaps an init that never reaps, only has not collected it).</summary>
    public static bool ProcessAlive(int pid)
    {
        if (pid <= 0) return false;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var afterName = stat.LastIndexOf(')');
            return afterName < 0 || afterName + 2 >= stat.Length || stat[afterName + 2] != 'Z';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
