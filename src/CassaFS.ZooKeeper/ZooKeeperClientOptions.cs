using Microsoft.Extensions.Logging;

namespace CassaFS.ZooKeeper;

/// <summary>Settings of a <see cref="ZooKeeperClient"/>.</summary>
public sealed record ZooKeeperClientOptions
{
    /// <summary>Session timeout asked of the server; it clamps it to [2, 20] ticks (see <see cref="ZooKeeperClient.SessionTimeout"/>).</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="ZooKeeperClient.ConnectAsync"/> keeps trying the servers before giving up.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Resume this session (with <see cref="SessionPassword"/>) instead of starting a new one.</summary>
    public long SessionId { get; init; }

    /// <summary>The password of the session given in <see cref="SessionId"/>.</summary>
    public ReadOnlyMemory<byte> SessionPassword { get; init; }

    /// <summary>Receives Connected, Suspended, Reconnected, Lost and Closed, in order with watch callbacks; set before connecting so the first Connected is seen.</summary>
    public Action<ConnectionState>? StateChanged { get; init; }

    /// <summary>Try the servers in a random order (spreads clients over the ensemble); false keeps the connect string's order.</summary>
    public bool ShuffleServers { get; init; } = true;

    /// <summary>Largest reply frame accepted (the server's jute.maxbuffer is 1 MB by default).</summary>
    public int MaxFrameBytes { get; init; } = 16 * 1024 * 1024;

    public ILogger? Logger { get; init; }
}
