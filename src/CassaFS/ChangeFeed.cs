using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace CassaFS;

/// <summary>
/// This client's side of the change notices (<see cref="IFileSystemStore.AnnounceAsync"/>). What it changed goes out
/// from one background announcer, in batches, each after the change itself was stored (a cache that drops an entry
/// before the change is readable would fetch the old one again). What other clients changed is read every poll
/// interval by whoever watches: a mount, to drop what the kernel caches, which lets the kernel cache for long.
/// </summary>
internal sealed class ChangeFeed : IAsyncDisposable
{
    /// <summary>
    /// How far back each poll reads again: a notice becomes readable only when its write is acknowledged, which may
    /// be after a later notice's, and clocks of two machines differ. A notice older than this when it lands is missed,
    /// and the cache it was for stays stale until its own timeout.
    /// </summary>
    private const long OverlapMicros = 2_000_000;

    /// <summary>Changes waiting for the announcer; past this many the oldest go (caches then rely on their timeouts).</summary>
    private const int MaxPending = 50_000;

    private readonly IFileSystemStore _store;
    private readonly ILogger? _logger;
    private readonly Channel<NamespaceChange> _pending = Channel.CreateBounded<NamespaceChange>(
        new BoundedChannelOptions(MaxPending) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Task _announcer;

    public ChangeFeed(IFileSystemStore store, ILogger? logger)
    {
        _store = store;
        _logger = logger;
        _announcer = Task.Run(AnnounceAsync);
    }

    /// <summary>Tells this client's own notices from the others'.</summary>
    public Guid Client { get; } = Guid.NewGuid();

    /// <summary>Announces that the entry <paramref name="name"/> of directory <paramref name="inode"/> changed, or (no name) the inode itself.</summary>
    public void Changed(Guid inode, string? name = null) => _pending.Writer.TryWrite(new NamespaceChange(inode, name));

    private static long NowMicros() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    private async Task AnnounceAsync()
    {
        var batch = new HashSet<NamespaceChange>();
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < 500 && _pending.Reader.TryRead(out var change)) batch.Add(change);
            var at = NowMicros();
            try
            {
                await _store.AnnounceAsync(batch.Select(c => new ChangeNotice(at, Guid.NewGuid(), Client, c)).ToList(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                if (_logger is not null) FileSystemLog.NoticesLost(_logger, batch.Count, e.Message);
            }
            batch.Clear();
        }
    }

    /// <summary>Awaits <paramref name="onChange"/> (on one background task, one at a time) for each change another client announces from now on, polling every <paramref name="interval"/>.</summary>
    public IAsyncDisposable Watch(Func<NamespaceChange, ValueTask> onChange, TimeSpan interval) => new Watcher(this, onChange, interval);

    private sealed class Watcher : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public Watcher(ChangeFeed feed, Func<NamespaceChange, ValueTask> onChange, TimeSpan interval) =>
            _loop = Task.Run(() => PollAsync(feed, onChange, interval, _stop.Token));

        private static async Task PollAsync(ChangeFeed feed, Func<NamespaceChange, ValueTask> onChange, TimeSpan interval, CancellationToken ct)
        {
            var since = NowMicros();
            var seen = new Dictionary<Guid, long>();
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(interval, ct).ConfigureAwait(false);
                var now = NowMicros();
                try
                {
                    foreach (var notice in (await feed._store.NoticesSinceAsync(since, ct).ConfigureAwait(false)).OrderBy(n => n.At))
                        if (notice.Client != feed.Client && seen.TryAdd(notice.Id, notice.At)) await onChange(notice.Change).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    if (feed._logger is not null) FileSystemLog.NoticesUnread(feed._logger, e.Message);
                    continue; // read the same window again next time
                }
                since = now - OverlapMicros;
                foreach (var old in seen.Where(s => s.Value < since).Select(s => s.Key).ToList()) seen.Remove(old);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            _stop.Dispose();
        }
    }

    /// <summary>Announces what is still pending, waiting at most <paramref name="wait"/>.</summary>
    public async Task FlushAsync(TimeSpan wait)
    {
        _pending.Writer.TryComplete();
        await Task.WhenAny(_announcer, Task.Delay(wait)).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(FlushAsync(TimeSpan.FromSeconds(5)));
}
