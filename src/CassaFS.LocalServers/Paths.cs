namespace CassaFS.LocalServers;

/// <summary>Where local servers keep their cached downloads and per-run state.</summary>
public static class Paths
{
    /// <summary>$CASSAFS_CACHE, else $XDG_CACHE_HOME/cassafs, else ~/.cache/cassafs.</summary>
    public static string CacheRoot
    {
        get
        {
            var explicitRoot = Environment.GetEnvironmentVariable("CASSAFS_CACHE");
            if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var baseDir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(baseDir, "cassafs");
        }
    }

    /// <summary>The folder that holds one folder per server run (state, config, logs).</summary>
    public static string RunsRoot => Path.Combine(CacheRoot, "runs");
}
