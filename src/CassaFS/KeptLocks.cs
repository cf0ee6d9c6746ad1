using System.Diagnostics;
using CassaFS.Locks;

namespace CassaFS;

/// <summary>
/// Exclusive locks on directories kept between operations, as CephFS keeps a directory's capability between requests.
/// Making, removing or renaming a name takes the directory's exclusive lock (the lock is what makes a create's
/// read-then-write atomic: names are plain stamped writes, <see cref="IFileSystemStore.WriteEntryAsync"/>); a burst of
/// them in one directory (tar, git, rm -rf) would take and let go the same ZooKeeper lock for every name. A kept lock is
/// lent to the operations of this client that ask for its key, one at a time (an exclusive lock lent to two at once
/// would let two creates of one name both find it free), and let go as soon as nobody here uses it and any of these
/// holds: someone waits for it (<see cref="ILockHandle.ContendedToken"/>: another client's operation in or on the
/// directory), it has been idle for the keeping time, it is not confirmed held (suspended or lost), its grant used up
/// its stamps, or the filesystem closes. Only locks whose provider can say they are wanted are kept; an operation never
/// borrows a lock that is not confirmed held, and one waiting its turn that finds the lock wanted meanwhile queues at
/// the provider behind the other client instead.
/// </summary>
internal sealed class KeptLocks : IAsyncDisposable
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The turn's semaphore is only awaited, never asked for its wait handle: it holds nothing to dispose.")]
    internal sealed class Entry(ILockHandle handle)
    {
        public readonly ILockHandle Handle = handle;
        /// <summary>Operations lent the lock or waiting for their turn.</summary>
        public int Users = 1;
        /// <summary>Wanted by someone, or the lock is in doubt: lent no more, let go once unused.</summary>
        public bool Done;
        public long IdleSince;
        public CancellationTokenRegistration Registration;
        /// <summary>One operation at a time uses the lock: taken by the first at once.</summary>
        public readonly SemaphoreSlim Turn = new(0, 1);
        /// <summary>The stamps of the names written under this grant, shared by every operation it is lent to.</summary>
        public readonly BlockStamps Stamps = new(handle.FencingToken);
        /// <summary>
        /// The directory's inode as read under this grant by an operation that makes names. Its mode, owner and link
        /// count cannot change while the grant lasts except by an operation it is lent to here, and those clear or
        /// renew it; its times can change, and are not taken from it.
        /// </summary>
        public volatile Inode? Directory;

        // What this client knows of the directory's names under this grant (guarded by the entry itself). Only this
        // client can write them while the grant lasts, so what a read found stays true until a name write here: a read
        // counts only if no name write was under way when it started and none started before it ended. Names: every
        // name, when a listing under the grant found few enough (CephFS's "complete" directory), kept up to date by
        // each name write here; else Absent: names reads found absent. A lookup of a name known absent reads nothing,
        // and neither does the create that follows it (the kernel looks a name up just before creating it).
        public readonly HashSet<string> Absent = new(StringComparer.Ordinal);
        public Dictionary<string, DirectoryEntry>? Names;
        public long NameWrites;
        public int NameWritesInFlight;

        /// <summary>What must be done before the lock goes (while nobody else can have it), by whom it was asked.</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<object, Func<Task>> BeforeLetGo = new();
    }

    /// <summary>A look at a kept directory's names: the grant it is made under, and how many name writes had started then.</summary>
    public readonly record struct NameLook(Entry Entry, long Writes);

    /// <summary>Past this many names known absent in one directory, the memo starts again empty.</summary>
    private const int MaxAbsent = 4096;

    /// <summary>A directory listed under a grant is known whole if it has at most this many names (more are not listed for it).</summary>
    public const int ListedNames = 256;

    /// <summary>Past this many names, a directory known whole is no longer followed name by name.</summary>
    private const int MaxKnownNames = 100_000;

    /// <summary>What is known of a name under a kept grant: nothing, absent, or its entry; with the directory's inode as read under the grant, if any.</summary>
    public readonly record struct NameKnowledge(bool Known, DirectoryEntry? Entry, Inode? Directory);

    /// <summary>A grant with fewer stamps left than this is let go after its current use (no operation takes as many).</summary>
    private const int StampsReserve = 64;

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

    /// <summary>
    /// The kept lock on the request's key, lent when its turn comes (whatever mode the request names: it is exclusive);
    /// else one taken now, and kept when <paramref name="keep"/> and its provider can tell that it is wanted.
    /// </summary>
    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, bool keep, CancellationToken ct)
    {
        Entry? kept;
        lock (_gate)
        {
            kept = Keeps(request.Key);
            if (kept is not null) kept.Users++;
        }
        if (kept is not null)
        {
            var turn = false;
            try
            {
                turn = await kept.Turn.WaitAsync(request.Timeout ?? Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
            }
            finally
            {
                if (!turn) await LeaveAsync(kept, turned: false).ConfigureAwait(false);
            }
            if (!turn) throw new LockTimeoutException(request.Key, request.Timeout ?? TimeSpan.Zero, new[] { new LockParticipant("", kept.Handle.Mode, kept.Handle.Holder, kept.Handle.FencingToken) });
            if (!kept.Done && kept.Handle.State == LockState.Held)
            {
                if (!keep) kept.Directory = null; // an operation that is not making names may change the directory itself
                return new Lent(this, kept);
            }
            // Wanted (or lost) while we waited our turn: queue behind whoever wants it.
            await LeaveAsync(kept, turned: true).ConfigureAwait(false);
        }
        var handle = await _provider.AcquireAsync(keep ? request with { Mode = LockMode.Write } : request, ct).ConfigureAwait(false);
        // One kept lock per key: one taken while another is being let go serves its operation only (and is not
        // asked whether it is wanted, which would start a watch for nothing).
        if (!keep || Refused(request.Key)) return handle;
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

    /// <summary>A read begun at <paramref name="look"/> found <paramref name="name"/> absent: remembered, if the grant still stands and wrote no name since.</summary>
    public static void NoteAbsent(NameLook look, string name) => Note(look, entry =>
    {
        if (entry.Names is not null) return;
        if (entry.Absent.Count >= MaxAbsent) entry.Absent.Clear();
        entry.Absent.Add(name);
    });

    /// <summary>A listing begun at <paramref name="look"/> found these, all the names there are: remembered as the directory's names, on the same terms.</summary>
    public static void NoteListing(NameLook look, IReadOnlyList<DirectoryEntry> all) => Note(look, entry =>
    {
        entry.Names = all.ToDictionary(e => e.Name, StringComparer.Ordinal);
        entry.Absent.Clear();
    });

    private static void Note(NameLook look, Action<Entry> remember)
    {
        var entry = look.Entry;
        if (entry.Done || entry.Handle.State != LockState.Held) return;
        lock (entry)
        {
            if (entry.NameWrites == look.Writes && entry.NameWritesInFlight == 0) remember(entry);
        }
    }

    /// <summary>
    /// What this client knows of <paramref name="name"/> in the directory whose kept lock is <paramref name="key"/>
    /// (nothing unless kept here and held); when nothing, the look to pass to <see cref="NoteAbsent"/> if the read
    /// made now finds the name absent (null when the lock is not kept here, or a name write is under way).
    /// </summary>
    public (NameKnowledge Known, NameLook? Look) Peek(LockKey key, string name)
    {
        Entry? entry;
        lock (_gate) entry = Keeps(key);
        if (entry is null) return default;
        lock (entry)
        {
            var known = Peek(entry, name);
            return (known, known.Known || entry.NameWritesInFlight > 0 ? null : new NameLook(entry, entry.NameWrites));
        }
    }

    private static NameKnowledge Peek(Entry entry, string name)
    {
        lock (entry)
        {
            if (entry.NameWritesInFlight > 0) return default;
            if (entry.Names is { } names) return new NameKnowledge(true, names.GetValueOrDefault(name), entry.Directory);
            return entry.Absent.Contains(name) ? new NameKnowledge(true, null, entry.Directory) : default;
        }
    }

    /// <summary>The kept, held, still lendable entry for <paramref name="key"/> (under the gate).</summary>
    private Entry? Keeps(LockKey key) =>
        !_closed && _kept.TryGetValue(key, out var e) && !e.Done && e.Handle.State == LockState.Held ? e : null;

    private bool Refused(LockKey key)
    {
        lock (_gate) return _closed || _kept.ContainsKey(key);
    }

    /// <summary>An operation is done with the lock (or gave up waiting for it); the lock goes if nobody else uses it and it should not stay.</summary>
    private Task LeaveAsync(Entry entry, bool turned)
    {
        lock (_gate)
        {
            entry.Users--;
            entry.IdleSince = Stopwatch.GetTimestamp();
        }
        if (turned) entry.Turn.Release();
        return FinishAsync(entry, markDone: entry.Handle.State != LockState.Held || entry.Stamps.Left < StampsReserve);
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
            await Task.WhenAll(entry.BeforeLetGo.Values.Select(RunAsync)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Each is best effort: what failed is no worse off than without the kept lock.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
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

    private static async Task RunAsync(Func<Task> work) => await work().ConfigureAwait(false); // a throw before its first await lands in the task too

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

        /// <summary>A stamp for a name written under this grant, above every one given before under it.</summary>
        public long NextStamp() => entry.Stamps.Next();

        /// <summary>Has <paramref name="work"/> done before this grant goes (unless <see cref="Unguard"/> comes first).</summary>
        public void Guard(object owner, Func<Task> work) => entry.BeforeLetGo[owner] = work;

        public void Unguard(object owner) => entry.BeforeLetGo.TryRemove(owner, out _);

        /// <summary>What is known under this grant of <paramref name="name"/>.</summary>
        public NameKnowledge Peek(string name) => KeptLocks.Peek(entry, name);

        /// <summary>Whether the directory's names are to be listed for this grant (not known whole, and none written under it yet).</summary>
        public bool Unlisted
        {
            get
            {
                lock (entry) return entry.Names is null && entry.NameWrites == 0;
            }
        }

        /// <summary>The look a listing of the directory's names under this grant starts with (see <see cref="NoteListing"/>).</summary>
        public NameLook ListingLook()
        {
            lock (entry) return new NameLook(entry, entry.NameWrites);
        }

        /// <summary>A write of <paramref name="name"/> (making or removing it) starts under this grant: what was known of it is forgotten.</summary>
        public void NameWriteStarting(string name)
        {
            lock (entry)
            {
                entry.NameWrites++;
                entry.NameWritesInFlight++;
                entry.Absent.Remove(name);
            }
        }

        /// <summary>The write ended: <paramref name="now"/> is what the name is (null: gone), or, when it failed, unknown (the listing is dropped).</summary>
        public void NameWriteEnded(string name, bool succeeded, DirectoryEntry? now)
        {
            lock (entry)
            {
                entry.NameWritesInFlight--;
                if (entry.Names is not { } names) return;
                if (!succeeded || names.Count >= MaxKnownNames) entry.Names = null;
                else if (now is null) names.Remove(name);
                else names[name] = now;
            }
        }

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
            Interlocked.Exchange(ref _returned, 1) == 0 ? new ValueTask(owner.LeaveAsync(entry, turned: true)) : ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ReleaseAsync();
    }
}
