using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using CassaFS.LocalServers;
using CassaFS.ZooKeeper;

namespace CassaFS.Benchmarks;

/// <summary>
/// ZooKeeper client request rate, sequential and pipelined, against the ceiling of the same server: the same exists
/// request written by hand on a raw socket (no parsing, no tasks, no FIFO), measured in the same run.
/// </summary>
internal sealed class ZooKeeperBenchmark : IBenchmark
{
    private const double Target = 0.5; // the client should reach half the bare-socket request rate

    public string Name => "zk";
    public string Description => "ZooKeeper client: exists rate (sequential, 64 in flight) vs bare-socket exists ceiling";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var seconds = args.Length > 0 && double.TryParse(args[0], System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 3;
        var server = Environment.GetEnvironmentVariable("CASSAFS_TEST_ZOOKEEPER");
        await using var run = string.IsNullOrWhiteSpace(server) ? await LocalRun.CreateAsync("bench-zk", Console.WriteLine, ct) : null;
        if (run is not null) server = (await run.StartZooKeeperAsync(ct: ct)).ConnectString;
        var window = TimeSpan.FromSeconds(seconds);

        await using var zk = await ZooKeeperClient.ConnectAsync(server!, ct: ct);
        var path = $"/bench-{Guid.NewGuid():N}";
        await zk.CreateAsync(path, new byte[100], CreateMode.Ephemeral, ct: ct);

        // warm both sides (server JIT, client JIT) before anything is measured
        await RawExistsAsync(server!, path, 8, TimeSpan.FromSeconds(1), ct);
        await RateAsync(8, TimeSpan.FromSeconds(1), () => zk.ExistsAsync(path, ct: ct));

        // The machine is shared: alternate short rounds of raw and client so both see the same load, report medians.
        const int rounds = 5;
        var slice = TimeSpan.FromTicks(window.Ticks / rounds);
        foreach (var inFlight in new[] { 1, 64 })
        {
            var raw = new List<double>();
            var client = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                raw.Add(await RawExistsAsync(server!, path, inFlight, slice, ct));
                client.Add(await RateAsync(inFlight, slice, () => zk.ExistsAsync(path, ct: ct)));
            }
            Report($"exists, {inFlight} in flight", Median(client), Median(raw), Median(client.Zip(raw, (c, w) => c / w).ToList()));
        }
        Console.WriteLine($"server {server}, {rounds} alternating rounds of {slice.TotalSeconds:F1} s, medians");
        return 0;
    }

    private static void Report(string what, double rate, double ceiling, double ratio) =>
        Console.WriteLine($"{what,-24} client {rate,8:F0} ops/s   ceiling (same request, raw socket) {ceiling,8:F0}/s   ratio {ratio:P0}   target {Target:P0}  {(ratio >= Target ? "OK" : "BELOW TARGET")}");

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static async Task<double> RateAsync(int inFlight, TimeSpan window, Func<Task> op)
    {
        long done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
        {
            while (clock.Elapsed < window)
            {
                await op();
                Interlocked.Increment(ref done);
            }
        }));
        return done / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Opens a session by hand and sends exists requests, keeping <paramref name="inFlight"/> outstanding.</summary>
    private static async Task<double> RawExistsAsync(string server, string path, int inFlight, TimeSpan window, CancellationToken ct)
    {
        var colon = server.LastIndexOf(':');
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server[..colon], int.Parse(server[(colon + 1)..]), ct);
        await using var stream = new NetworkStream(socket);
        var connect = new byte[4 + 4 + 8 + 4 + 8 + 4 + 16 + 1];
        BinaryPrimitives.WriteInt32BigEndian(connect, connect.Length - 4);
        BinaryPrimitives.WriteInt32BigEndian(connect.AsSpan(16), 10_000);
        BinaryPrimitives.WriteInt32BigEndian(connect.AsSpan(28), 16);
        await stream.WriteAsync(connect, ct);
        var length = new byte[4];
        await stream.ReadExactlyAsync(length, ct);
        await stream.ReadExactlyAsync(new byte[BinaryPrimitives.ReadInt32BigEndian(length)], ct);

        var name = System.Text.Encoding.UTF8.GetBytes(path);
        var request = new byte[4 + 4 + 4 + 4 + name.Length + 1];
        BinaryPrimitives.WriteInt32BigEndian(request, request.Length - 4);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(8), 3); // exists
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(12), name.Length);
        name.CopyTo(request, 16);
        var body = new byte[256];
        var xid = 0;
        long done = 0;
        var clock = Stopwatch.StartNew();
        async Task SendAsync()
        {
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), ++xid);
            await stream.WriteAsync(request, ct);
        }
        for (var i = 0; i < inFlight; i++) await SendAsync();
        while (clock.Elapsed < window)
        {
            await stream.ReadExactlyAsync(length, ct);
            await stream.ReadExactlyAsync(body.AsMemory(0, BinaryPrimitives.ReadInt32BigEndian(length)), ct);
            done++;
            await SendAsync();
        }
        return done / clock.Elapsed.TotalSeconds;
    }
}
