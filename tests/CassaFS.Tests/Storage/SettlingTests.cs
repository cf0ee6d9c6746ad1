using System.Text;
using CassaFS.Cql;
using CassaFS.Testing;
using Microsoft.Extensions.Logging;

namespace CassaFS.Tests.Storage;

/// <summary>
/// The Cassandra store stores a name write whose reply was lost before it answers: the write is idempotent (a plain
/// write with its stamp), so it is sent again, and the filesystem above it never sees the driver's timeout. Faults come through a TCP proxy in front of the real
/// Cassandra: a request that never reaches it, and a reply lost after it applied the write.
/// </summary>
public sealed class SettlingTests : IAsyncLifetime
{
    private readonly string _keyspace = TestNames.Keyspace("settle");
    private CqlSession _direct = null!;
    private TcpProxy _proxy = null!;
    private CqlSession _proxied = null!;
    private readonly Lines _log = new();
    private IFileSystemStore _store = null!;

    public async Task InitializeAsync()
    {
        var cassandra = await TestServers.CassandraAsync();
        _direct = await FileSystemFixture.Connect(cassandra);
        await Schema.FormatAsync(_direct, new FormatOptions { Keyspace = _keyspace });
        _proxy = new TcpProxy(cassandra, RequestFraming.Cql);
        var options = new CqlSessionOptions { RequestTimeout = TimeSpan.FromSeconds(2), ReconnectBaseDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(500) };
        options.ContactPoints.Add(_proxy.ConnectString);
        _proxied = await CqlSession.ConnectAsync(options);
        _store = await CassandraStore.PrepareAsync(_proxied, _keyspace, Consistency.Quorum, Consistency.Serial, _log, default);
    }

    public async Task DisposeAsync()
    {
        await _store.FlushUsageAsync(TimeSpan.FromSeconds(1));
        await _proxied.DisposeAsync();
        await _proxy.DisposeAsync();
        await Schema.DestroyAsync(_direct, _keyspace, Consistency.Quorum);
        await _direct.DisposeAsync();
    }

    [Fact]
    public async Task A_name_write_whose_request_never_arrived_is_sent_again_and_stored()
    {
        var dir = Guid.NewGuid();
        var entry = new DirectoryEntry("lost-request", Guid.NewGuid(), FileType.Regular);
        var name = Encoding.UTF8.GetBytes(entry.Name);
        var dropped = 0;
        // The first request naming the entry is the write: it never reaches Cassandra, so its client times out.
        _proxy.Forward = request => request.Span.IndexOf(name) < 0 || Interlocked.Increment(ref dropped) > 1;

        await _store.WriteEntryAsync(dir, entry, new BlockStamps(1).Next(), default);

        Assert.True(dropped > 1);
        Assert.Equal(entry, await (await DirectStoreAsync()).GetEntryAsync(dir, entry.Name, default));
    }

    [Fact]
    public async Task A_name_write_whose_reply_was_lost_after_it_applied_is_sent_again_harmlessly()
    {
        var dir = Guid.NewGuid();
        var stamps = new BlockStamps(1);
        var entry = new DirectoryEntry("lost-reply", Guid.NewGuid(), FileType.Regular);
        var direct = await DirectStoreAsync();
        _proxy.HoldReplies();
        var stamp = stamps.Next();
        var write = _store.WriteEntryAsync(dir, entry, stamp, default);
        // Cassandra has applied it; its reply waits in the proxy and is lost with the connection.
        while (await direct.GetEntryAsync(dir, entry.Name, default) is null) await Task.Delay(20);
        _proxy.Cut();
        _proxy.Restore();
        _proxy.ReleaseReplies();
        await write;
        Assert.Equal(entry, await direct.GetEntryAsync(dir, entry.Name, default));

        // The same holder removes the name next: the resent write (its stamp is lower) cannot bring it back.
        await _store.RemoveEntryAsync(dir, entry.Name, stamps.Next(), default);
        await _store.WriteEntryAsync(dir, entry, stamp, default);
        Assert.Null(await direct.GetEntryAsync(dir, entry.Name, default));
    }

    private async Task<IFileSystemStore> DirectStoreAsync() =>
        await CassandraStore.PrepareAsync(_direct, _keyspace, Consistency.Quorum, Consistency.Serial, logger: null, default);

    /// <summary>The store's log lines.</summary>
    private sealed class Lines : ILogger
    {
        private readonly List<string> _lines = new();

        public IReadOnlyList<string> All
        {
            get
            {
                lock (_lines) return _lines.ToList();
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lines) _lines.Add(formatter(state, exception));
        }
    }
}
