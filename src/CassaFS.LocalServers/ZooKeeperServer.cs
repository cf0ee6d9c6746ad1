using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace CassaFS.LocalServers;

/// <summary>How one local ZooKeeper server is configured; <see cref="Ensemble"/> lists every member, itself included.</summary>
public sealed record ZooKeeperServerOptions
{
    public int ServerId { get; init; } = 1;
    public IPAddress Address { get; init; } = IPAddress.Loopback;
    public int ClientPort { get; init; }
    /// <summary>ZooKeeper's tick; sessions may last between 2 and 20 ticks.</summary>
    public int TickTimeMs { get; init; } = 2000;
    /// <summary>Members of the ensemble (id, address, peer port, election port); empty for a standalone server.</summary>
    public IReadOnlyList<(int Id, IPAddress Address, int PeerPort, int ElectionPort)> Ensemble { get; init; } =
        Array.Empty<(int, IPAddress, int, int)>();
}

/// <summary>
/// One Apache ZooKeeper 3.8 server from Debian's package, run directly with QuorumPeerMain (not the service
/// scripts); ready when <c>srvr</c> reports a mode.
/// </summary>
public sealed class ZooKeeperServer : IAsyncDisposable
{
    private ServerProcess? _process;

    internal ZooKeeperServer(string name, string stateDirectory, ZooKeeperServerOptions options)
    {
        Name = name;
        StateDirectory = stateDirectory;
        Options = options;
    }

    public string Name { get; }
    public string StateDirectory { get; }
    public ZooKeeperServerOptions Options { get; }
    public IPEndPoint ClientEndpoint => new(Options.Address, Options.ClientPort);
    /// <summary>"address:port" for a client's connect string.</summary>
    public string ConnectString => $"{Options.Address}:{Options.ClientPort}";
    public string LogPath => Path.Combine(StateDirectory, "zookeeper.log");
    public int? Pid => _process?.Pid;
    public bool IsRunning => _process?.IsRunning == true;
    public TimeSpan StartupTime { get; private set; }

    /// <summary>standalone, leader or follower; null when it does not serve.</summary>
    public Task<string?> ModeAsync(CancellationToken ct = default) => Probes.ZooKeeperModeAsync(ClientEndpoint, ct);

    /// <summary>
    /// Launches the server without waiting (an ensemble's members must all be launched before any serves). A server
    /// still running is left as it is; a port someone else listens on is refused, since whoever it is would answer
    /// the readiness probe in this server's name.
    /// </summary>
    public void Launch()
    {
        if (IsRunning) return;
        var java = Prerequisites.JavaPath() ?? throw new LocalServersException("java is not installed: apt-get install -y openjdk-17-jre-headless");
        var cfg = WriteConfiguration();
        if (!Loopback.IsFree(Options.Address, Options.ClientPort))
            throw new LocalServersException($"ZooKeeper server {Name} cannot start: another process already listens on {ConnectString}.");
        var args = new List<string>
        {
            "-Xmx256m", "-Djava.net.preferIPv4Stack=true", "-Dzookeeper.admin.enableServer=false",
            $"-Dcassafs.state={StateDirectory}",
            "-cp", $"{Prerequisites.ZooKeeperJar}:{Prerequisites.Slf4jSimpleJar}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg,
        };
        // The previous process (if any) has exited: IsRunning is false only once it is gone.
        _process?.Dispose();
        _process = ServerProcess.Launch(java, args, StateDirectory, LogPath);
    }

    /// <summary>
    /// Waits until <c>srvr</c> reports a mode while our process runs: an answer counts only if the process we
    /// launched is still there after it, and "exited" is said only once that process has exited.
    /// </summary>
    public async Task WaitServingAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var process = _process ?? throw new LocalServersException($"ZooKeeper server {Name} was never launched.");
        var clock = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        while (true)
        {
            var mode = await ModeAsync(ct).ConfigureAwait(false);
            if (process.ExitCode is { } code)
                throw new LocalServersException($"ZooKeeper server {Name} exited during start-up (exit code {code}). Its log ({LogPath}) ends:\n{process.LogTail()}");
            if (mode is not null) break;
            if (clock.Elapsed > limit)
                throw new LocalServersException($"ZooKeeper server {Name} did not serve on {ConnectString} within {limit}. Log:\n{process.LogTail()}");
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        StartupTime = clock.Elapsed;
    }

    /// <summary>Launches the server unless it runs (a first start, or a restart after a stop or a kill) and waits until it serves.</summary>
    public async Task StartAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        Launch();
        await WaitServingAsync(timeout, ct).ConfigureAwait(false);
        StartupTime = clock.Elapsed;
    }

    /// <summary>SIGTERM, SIGKILL after the grace period; returns once the process is gone.</summary>
    public Task StopAsync(TimeSpan? grace = null) => _process?.StopAsync(grace ?? TimeSpan.FromSeconds(10)) ?? Task.CompletedTask;

    /// <summary>SIGKILL, as a crash; returns once the process is gone (its ports free for a restart).</summary>
    public void Kill() => _process?.Kill();

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private string WriteConfiguration()
    {
        var path = Path.Combine(StateDirectory, "zoo.cfg");
        if (File.Exists(path)) return path;
        var data = Path.Combine(StateDirectory, "zkdata");
        Directory.CreateDirectory(data);
        var o = Options;
        var cfg = new StringBuilder();
        cfg.Append(CultureInfo.InvariantCulture, $"tickTime={o.TickTimeMs}\n");
        cfg.Append(CultureInfo.InvariantCulture, $"dataDir={data}\n");
        cfg.Append(CultureInfo.InvariantCulture, $"clientPort={o.ClientPort}\n");
        cfg.Append(CultureInfo.InvariantCulture, $"clientPortAddress={o.Address}\n");
        cfg.Append("maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,stat,mntr\n");
        if (o.Ensemble.Count > 0)
        {
            cfg.Append("initLimit=10\nsyncLimit=5\n");
            foreach (var m in o.Ensemble)
                cfg.Append(CultureInfo.InvariantCulture, $"server.{m.Id}={m.Address}:{m.PeerPort}:{m.ElectionPort}\n");
            File.WriteAllText(Path.Combine(data, "myid"), o.ServerId.ToString(CultureInfo.InvariantCulture));
        }
        File.WriteAllText(path, cfg.ToString());
        return path;
    }
}
