using System.Diagnostics;
using CassaFS.Locks;

namespace CassaFS;

/// <summary>
/// Shared locks on directories kept between operations, as CephFS keeps a directory's capability between requests.
/// Making or removing a name takes the directory's shared lock; a burst of them in one directory (tar, git, rm -rf)
/// took and let go the same ZooKeeper lock for every name, 4-5 ms of a 20 ms create. A kept lock is lent to each
/// operation of this client that asks for it, and let go as soon as nobody here uses it and any of these holds:
/// someone waits for it whom it blocks (<see cref="ILockHandle.ContendedToken"/>: a mkdir, rmdir or rename, here or
/// on another client, takes the directory exclusive), it has been idle for the keeping time, it is not confirmed held
/// (suspended or lost), or the filesystem closes. An exclusive request of this client lets the kept lock go first
/// (<see cref="YieldAsync"/>) instead of waiting to be noticed. Only locks whose provider can say they are wanted
/// are kept; an operation never borrows a lock that is not confirmed held.
/// </summary>
internal sealed class KeptLocks : IAsyncDisposable
{
    internal sealed class Entry(ILockHandle handle)
    {
        public readonly ILockHandle Handle = handle;
        public int Users = 1;
        /// <summary>Wanted by someone, or the lock is in doubt: lent no more, let go once unused.</summary>
        public bool Done;
        public long IdleSince;
        public CancellationTokenRegistration Registration;
        /// <summary>
        /// The directory's inode as read under this grant. Its mode, owner and link count cannot change while the
        /// shared lock is held (chmod, chown, mkdir, rmdir and rename of it take it exclusive), so the next names
        /// made under the same grant need not read it again; its times can change, and are not taken from it.
        /// </summary>
        public volatile Inode? Directory;
    }

    private readonly ILockProvider _provider;
    private readonly TimeSpan _idle;
    private readonly object _gate = new();
    private readonly Dictionary<LockKey, Entry> _kept = new();
    private readonly Timer _sweep;
    private bool _closed;

    public KeptLocks(ILockProvider provider, TimeSpan idle)
    {
        _provider = provider;
        _idle = idle;
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, idle.Ticks / 4));
        _sweep = new Timer(static k => ((KeptLocks)k!).Sweep(), this, period, period);
    }

    /// <summary>The kept lock on the request's key, lent; or one taken now, kept when its provider can tell that it is wanted.</summary>
    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct)
    {
        if (request.Mode != LockMode.Read) throw new ArgumentException("only shared locks are kept", nameof(request));
        lock (_gate)
        {
            if (!_closed && _kept.TryGetValue(request.Key, out var kept) && !kept.Done && kept.Handle.State == LockState.Held)
            {
                kept.Users++;
                return new Lent(this, kept);
            }
        }
        var handle = await _provider.AcquireAsync(request, ct).ConfigureAwait(false);
        // One kept lock per key: one taken while another is being let go serves its operation only (and is not
        // asked whether it is wanted, which would start a watch for nothing).
        if (Refused(request.Key)) return handle;
        var wanted = handle.ContendedToken;
        if (!wanted.CanBeCanceled) return handle;
        var entry = new Entry(handle);
        lock (_gate)
        {
            if (_closed || _kept.ContainsKey(request.Key)) return handle;
            _kept[request.Key] = entry;
        }
        entry.Registration = wanted.UnsafeRegister(static (state, _token) =>
        {
            var (owner, e) = ((KeptLocks, Entry))state!;
            _ = owner.FinishAsync(e, markDone: true);
        }, (this, entry));
        return new Lent(this, entry);
    }

    private bool Refused(LockKey key)
    {
        lock (_gate) return _closed || _kept.ContainsKey(key);
    }

    /// <summary>Lets go of the kept lock on <paramref name="key"/> before this client asks for it exclusive (at once if unused, else when its last user is done).</summary>
    public Task YieldAsync(LockKey key)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_kept.TryGetValue(key, out entry)) return Task.CompletedTask;
        }
        return FinishAsync(entry, markDone: true);
    }

    /// <summary>An operation is done with its loan; the lock goes if nobody else uses it and it should not stay.</summary>
    private Task ReturnAsync(Entry entry)
    {
        lock (_gate)
        {
            entry.Users--;
            entry.IdleSince = Stopwatch.GetTimestamp();
        }
        return FinishAsync(entry, markDone: entry.Handle.State != LockState.Held);
    }

    /// <summary>Marks the entry done if asked; lets it go when done (or the filesystem is closing) and nobody uses it.</summary>
    private async Task FinishAsync(Entry entry, bool markDone)
    {
        lock (_gate)
        {
            if (markDone) entry.Done = true;
            if (entry.Users > 0 || !(entry.Done || _closed) || !Forget(entry)) return;
        }
        await LetGoAsync(entry).ConfigureAwait(false);
    }

    /// <summary>Removes the entry from the kept set (under the gate); false when it was already gone.</summary>
    private bool Forget(Entry entry)
    {
        if (!_kept.TryGetValue(entry.Handle.Key, out var kept) || kept != entry) return false;
        _kept.Remove(entry.Handle.Key);
        return true;
    }

    private static async Task LetGoAsync(Entry entry)
    {
        entry.Registration.Unregister(); // never waits: this may run inside that very callback
        try
        {
            await entry.Handle.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The provider retries a release until confirmed or the session is gone; nobody here waits on it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>Lets go of the locks unused for the keeping time, or no longer confirmed held.</summary>
    private void Sweep()
    {
        List<Entry> idle;
        lock (_gate)
        {
            idle = _kept.Values.Where(e => e.Users == 0 && (e.Handle.State != LockState.Held || Stopwatch.GetElapsedTime(e.IdleSince) >= _idle)).ToList();
            foreach (var e in idle) Forget(e);
        }
        foreach (var e in idle) _ = LetGoAsync(e);
    }

    public async ValueTask DisposeAsync()
    {
        await _sweep.DisposeAsync().ConfigureAwait(false);
        List<Entry> unused;
        lock (_gate)
        {
            _closed = true;
            unused = _kept.Values.Where(e => e.Users == 0).ToList();
            foreach (var e in unused) Forget(e);
        }
        await Task.WhenAll(unused.Select(LetGoAsync)).ConfigureAwait(false);
    }

    /// <summary>A kept lock lent to one operation: its release gives the loan back.</summary>
    internal sealed class Lent(KeptLocks owner, Entry entry) : ILockHandle
    {
        private int _returned;

        public LockKey Key => entry.Handle.Key;
        public LockMode Mode => entry.Handle.Mode;
        public long FencingToken => entry.Handle.FencingToken;
        public LockHolder Holder => entry.Handle.Holder;
        public LockState State => Volatile.Read(ref _returned) != 0 ? LockState.Released : entry.Handle.State;
        public CancellationToken LostToken => entry.Handle.LostToken;
        public CancellationToken ContendedToken => entry.Handle.ContendedToken;

        /// <summary>The directory's inode read under this grant (see <see cref="Entry.Directory"/>), null until one operation stored it.</summary>
        public Inode? Directory
        {
            get => entry.Directory;
            set => entry.Directory = value;
        }

        public event EventHandler<LockState>? StateChanged
        {
            add => entry.Handle.StateChanged += value;
            remove => entry.Handle.StateChanged -= value;
        }

        public ValueTask ReleaseAsync(CancellationToken ct = default) =>
            Interlocked.Exchange(ref _returned, 1) == 0 ? new ValueTask(owner.ReturnAsync(entry)) : ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ReleaseAsync();
    }
}
