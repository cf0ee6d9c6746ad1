using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CassaFS.LocalServers;

/// <summary>How one local Cassandra node is configured.</summary>
public sealed record CassandraNodeOptions
{
    public IPAddress Address { get; init; } = IPAddress.Loopback;
    public int NativePort { get; init; }
    public int StoragePort { get; init; }
    public int SslStoragePort { get; init; }
    public int RpcPort { get; init; }
    public string ClusterName { get; init; } = "CassaFS local";
    /// <summary>Seed addresses; the node's own address when empty.</summary>
    public IReadOnlyList<IPAddress> Seeds { get; init; } = Array.Empty<IPAddress>();
    /// <summary>The node's single token; a random one when null.</summary>
    public string? InitialToken { get; init; }
    /// <summary>PasswordAuthenticator instead of AllowAllAuthenticator (default superuser cassandra/cassandra).</summary>
    public bool PasswordAuthentication { get; init; }
    /// <summary>
    /// JVM heap. Each keyspace's tables cost the node memory for as long as it runs; 256 MB ran out (OutOfMemoryError)
    /// after about 35 filesystems in one long session, 768 MB holds a whole test run with room to spare.
    /// </summary>
    public int HeapMegabytes { get; init; } = 768;
    /// <summary>
    /// Batch commit-log sync (the default here): a write is acknowledged only after its commit-log entry is fsync'd, so
    /// a killed node keeps everything it acknowledged. Cassandra's own default, periodic (10 s), may forget up to the
    /// last 10 s on every node that dies at once (a restarted 2.1 node replays only up to its last sync marker).
    /// </summary>
    public bool DurableWrites { get; init; } = true;

    /// <summary>Options with free ports on the given address.</summary>
    public static CassandraNodeOptions OnFreePorts(IPAddress? address = null)
    {
        var a = address ?? IPAddress.Loopback;
        var p = Loopback.FreePorts(4, a);
        return new CassandraNodeOptions { Address = a, NativePort = p[0], StoragePort = p[1], SslStoragePort = p[2], RpcPort = p[3] };
    }
}

/// <summary>
/// One Apache Cassandra 2.1.0 node run straight from the cached distribution on Java 17 (not through bin/cassandra,
/// whose JVM flags Java 17 rejects). Start, stop (SIGTERM), kill (SIGKILL) and restart keep its data.
/// </summary>
public sealed class CassandraNode : IAsyncDisposable
{
    private static readonly string[] OpenedPackages =
    {
        "java.lang", "java.lang.reflect", "java.lang.ref", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
        "java.util.concurrent.locks", "java.io", "java.nio", "java.nio.channels", "java.net", "sun.nio.ch", "jdk.internal.ref",
        "jdk.internal.misc", "sun.nio.fs", "java.text", "java.math", "java.security", "java.util.regex", "java.time",
        "java.nio.charset", // not in the documented recipe: without it Cassandra 2.1 cannot PREPARE statements with text collections
    };

    private readonly CassandraDistribution _distribution;
    private ServerProcess? _process;

    internal CassandraNode(string name, string stateDirectory, CassandraDistribution distribution, CassandraNodeOptions options)
    {
        Name = name;
        StateDirectory = stateDirectory;
        _distribution = distribution;
        Options = options;
    }

    public string Name { get; }
    public string StateDirectory { get; }
    public CassandraNodeOptions Options { get; }
    public IPEndPoint NativeEndpoint => new(Options.Address, Options.NativePort);
    /// <summary>"address:port" of the CQL native transport.</summary>
    public string ContactPoint => $"{Options.Address}:{Options.NativePort}";
    public string LogPath => Path.Combine(StateDirectory, "system.log");
    public string ConsoleLogPath => Path.Combine(StateDirectory, "console.log");
    public int? Pid => _process?.Pid;
    public bool IsRunning => _process?.IsRunning == true;
    /// <summary>How long the last start took until CQL answered.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>Starts the node (writing its configuration on first start) and waits until CQL answers.</summary>
    public async Task StartAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        if (IsRunning) return;
        var java = Prerequisites.JavaPath() ?? throw new LocalServersException("java is not installed: apt-get install -y openjdk-17-jre-headless");
        WriteConfiguration();
        var clock = Stopwatch.StartNew();
        // The previous process (if any) has exited: IsRunning is false only once it is gone.
        _process?.Dispose();
        _process = ServerProcess.Launch(java, JavaArguments(), StateDirectory, ConsoleLogPath);
        var deadline = clock.Elapsed + (timeout ?? TimeSpan.FromSeconds(120));
        while (!await Probes.CqlAnswersAsync(NativeEndpoint, ct).ConfigureAwait(false))
        {
            if (_process.ExitCode is { } code)
                throw new LocalServersException($"Cassandra node {Name} exited during start-up (exit code {code}). Its log ({ConsoleLogPath}) ends:\n{_process.LogTail()}");
            if (clock.Elapsed > deadline)
            {
                _process.Kill();
                throw new LocalServersException($"Cassandra node {Name} did not answer CQL on {ContactPoint} within {timeout ?? TimeSpan.FromSeconds(120)}. Log ({LogPath}):\n{_process.LogTail()}");
            }
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        StartupTime = clock.Elapsed;
    }

    /// <summary>Clean stop (SIGTERM), SIGKILL after the grace period.</summary>
    public Task StopAsync(TimeSpan? grace = null) => _process?.StopAsync(grace ?? TimeSpan.FromSeconds(30)) ?? Task.CompletedTask;

    /// <summary>SIGKILL, as a crash: no flush, no goodbye to peers.</summary>
    public void Kill() => _process?.Kill();

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private void WriteConfiguration()
    {
        var yaml = Path.Combine(StateDirectory, "cassandra.yaml");
        if (File.Exists(yaml)) return;
        Directory.CreateDirectory(StateDirectory);
        var config = JsonNode.Parse(File.ReadAllText(_distribution.DefaultsJson))!.AsObject();
        foreach (var key in config.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList()) config.Remove(key);
        var o = Options;
        var address = o.Address.ToString();
        var seeds = o.Seeds.Count == 0 ? address : string.Join(',', o.Seeds.Select(s => s.ToString()));
        config["cluster_name"] = o.ClusterName;
        config["num_tokens"] = 1;
        if (o.InitialToken is not null) config["initial_token"] = o.InitialToken;
        config["auto_bootstrap"] = false;
        config["data_file_directories"] = new JsonArray(Path.Combine(StateDirectory, "data"));
        config["commitlog_directory"] = Path.Combine(StateDirectory, "commitlog");
        config["saved_caches_directory"] = Path.Combine(StateDirectory, "saved_caches");
        config["listen_address"] = address;
        config["rpc_address"] = address;
        config["native_transport_port"] = o.NativePort;
        config["storage_port"] = o.StoragePort;
        config["ssl_storage_port"] = o.SslStoragePort;
        config["rpc_port"] = o.RpcPort;
        config["start_rpc"] = false;
        config["authenticator"] = o.PasswordAuthentication ? "PasswordAuthenticator" : "AllowAllAuthenticator";
        config["seed_provider"]![0]!["parameters"]![0]!["seeds"] = seeds;
        // A lone test node flushes hints and snapshots for nothing; keep start and stop quick.
        config["auto_snapshot"] = false;
        if (o.DurableWrites)
        {
            config.Remove("commitlog_sync_period_in_ms"); // 2.1 refuses a period beside batch sync
            config["commitlog_sync"] = "batch";
            config["commitlog_sync_batch_window_in_ms"] = 2;
        }
        // Local nodes share two cores with their clients: the stock 1 s Paxos contention and 2 s write timeouts
        // turn a busy moment into timeouts that say nothing about the code under test.
        config["cas_contention_timeout_in_ms"] = 5000;
        config["write_request_timeout_in_ms"] = 5000;
        config["read_request_timeout_in_ms"] = 10000;
        File.WriteAllText(yaml, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(StateDirectory, "logback.xml"), $$"""
            <configuration>
              <appender name="FILE" class="ch.qos.logback.core.FileAppender">
                <file>{{LogPath}}</file>
                <encoder><pattern>%-5level %date{HH:mm:ss,SSS} [%thread] %logger{0} %msg%n</pattern></encoder>
              </appender>
              <root level="INFO"><appender-ref ref="FILE" /></root>
            </configuration>
            """);
    }

    private List<string> JavaArguments()
    {
        var heap = Options.HeapMegabytes.ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            $"-Xms{heap}m", $"-Xmx{heap}m", "-XX:+UseSerialGC", "-Xss512k", "-XX:+ExitOnOutOfMemoryError",
            "-Dcassandra-foreground=yes",
            $"-Dcassandra.config=file://{Path.Combine(StateDirectory, "cassandra.yaml")}",
            $"-Dlogback.configurationFile={Path.Combine(StateDirectory, "logback.xml")}",
            $"-Dcassandra.storagedir={StateDirectory}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.consistent.rangemovement=false",
            "-Djava.net.preferIPv4Stack=true",
        };
        foreach (var p in OpenedPackages) { args.Add("--add-opens"); args.Add($"java.base/{p}=ALL-UNNAMED"); }
        args.AddRange(new[]
        {
            "--add-opens", "java.management/sun.management=ALL-UNNAMED",
            "--add-opens", "java.management/java.lang.management=ALL-UNNAMED",
            "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
            "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
            "-cp", $"{Path.Combine(_distribution.Home, "conf")}:{Path.Combine(_distribution.Home, "lib")}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        });
        return args;
    }
}
