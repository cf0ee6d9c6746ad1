using CassaFS.LocalServers;
using Xunit;

namespace CassaFS.Testing;

/// <summary>
/// A standalone ZooKeeper server of one test class's own (a 500 ms tick by default: sessions from 1 s), in a run of
/// its own, so its tests may stop, kill and restart it. Derive a fixture class that names the run's purpose.
/// </summary>
public abstract class OwnZooKeeperServer(string purpose, int tickTimeMs = 500) : IAsyncLifetime
{
    private LocalRun? _run;

    public ZooKeeperServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _run = await TestServers.OwnRunAsync(purpose).ConfigureAwait(false);
        Server = await _run.StartZooKeeperAsync(tickTimeMs).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        if (_run is not null) await _run.DisposeAsync().ConfigureAwait(false);
    }
}
