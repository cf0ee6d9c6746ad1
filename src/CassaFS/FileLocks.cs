using CassaFS.Locks;

namespace CassaFS;

/// <summary>A byte-range lock as fcntl(2) states it: Length 0 reaches past any end of file; Pid the process it is for.</summary>
public readonly record struct RecordLock(RecordLockType Type, long Start, long Length, int Pid);

public enum RecordLockType
{
    Read,
    Write,
    Unlock,
}

/// <summary>
/// Applications' advisory locks on files, the same for every face (a mount's flock and fcntl, PowerShell's writers
/// and Lock-CassaItem), held across every client of a filesystem through the lock provider it runs with (ZooKeeper:
/// ephemeral nodes, so a dead client's locks go with its session). One instance per client.
/// <para>Whole-file locks (flock, PowerShell): one provider lock per (inode, owner) on <see cref="LockKey.ForAdvisory"/>,
/// shared or exclusive. Converting shared to exclusive releases first, as Linux's flock does (the conversion is not
/// atomic). A non-blocking request waits <see cref="NonBlockingWait"/> at most, then answers EAGAIN.</para>
/// <para>fcntl byte ranges (process-owned and OFD locks: the kernel tells them apart by owner): exact per-range
/// conflicts among the owners of this mount, split and merged as POSIX says; against other mounts each range holds a
/// grant of its own on <see cref="LockKey.ForByteRanges"/> through <see cref="IRangeLockProvider"/> (ZooKeeper: range
/// nodes, so two mounts locking disjoint ranges of one file do not exclude each other; other providers: whole-file
/// granularity, see <see cref="WholeFileRangeLocks"/>). A wait for another mount is made without this mount's gate,
/// so its other owners go on meanwhile. F_GETLK names another mount's holder by the pid it locked for. Deadlocks
/// across mounts are not detected (no EDEADLK): a cycle of F_SETLKW waits across mounts waits until interrupted.</para>
/// </summary>
public sealed class FileLocks : IAsyncDisposable
{
    private readonly ILockProvider _provider;
    private readonly object _gate = new();
    private readonly Dictionary<(Guid Inode, ulong Owner), ILockHandle> _flocks = new();
    private readonly Dictionary<Guid, RangeSet> _ranges = new();
    private readonly IRangeLockProvider _byteRanges;
    private readonly Dictionary<ulong, HashSet<(Guid Inode, ulong Owner)>> _ownersByDescription = new();

    public FileLocks(ILockProvider provider)
    {
        _provider = provider ?? throw new ArgumentNullException(nameof(provider));
        _byteRanges = RangeLocks.For(provider);
    }

    /// <summary>How long a non-blocking request (LOCK_NB, F_SETLK) waits for the provider before answering EAGAIN.</summary>
    public TimeSpan NonBlockingWait { get; init; } = TimeSpan.FromMilliseconds(250);

    // ------------------------------------------------------------------------------------------------ flock

    /// <summary>
    /// flock(2) for one open-file owner: <paramref name="mode"/> shared (Read) or exclusive (Write), null unlocks;
    /// <paramref name="subject"/> names the file for listings (its path, when known). Success when granted, else EAGAIN,
    /// EINTR or ENOLCK.
    /// </summary>
    public async ValueTask<Errno> FlockAsync(Guid inode, ulong owner, LockMode? mode, bool wait, string? subject, CancellationToken interrupted)
    {
        var key = (inode, owner);
        ILockHandle? held;
        lock (_gate) _flocks.TryGetValue(key, out held);
        if (mode is not { } wanted)
        {
            await ReleaseFlockAsync(inode, owner).ConfigureAwait(false);
            return Errno.Success;
        }
        if (held is not null)
        {
            if (held.Mode == wanted && held.State is LockState.Held or LockState.Suspended) return Errno.Success;
            await ReleaseFlockAsync(inode, owner).ConfigureAwait(false);
        }
        var request = new LockRequest(LockKey.ForAdvisory(inode), wanted)
        {
            Purpose = $"flock {(wanted == LockMode.Write ? "LOCK_EX" : "LOCK_SH")}",
            Subject = subject,
            Timeout = wait ? null : NonBlockingWait,
        };
        var (handle, error) = await AcquireAsync(request, interrupted).ConfigureAwait(false);
        if (handle is null) return error;
        lock (_gate) _flocks[key] = handle;
        return Errno.Success;
    }

    /// <summary>Drops the flock of <paramref name="owner"/> on <paramref name="inode"/> (LOCK_UN; a mount's release with FlockRelease).</summary>
    public async ValueTask ReleaseFlockAsync(Guid inode, ulong owner)
    {
        ILockHandle? held;
        lock (_gate)
        {
            if (!_flocks.Remove((inode, owner), out held)) return;
        }
        await held.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Number of flocks this mount holds (for status and tests).</summary>
    public int FlockCount
    {
        get
        {
            lock (_gate) return _flocks.Count;
        }
    }

    /// <summary>
    /// A whole-file lock for one operation of this client (a PowerShell writer, Lock-CassaItem): the flock key, so it
    /// and a mount's flock exclude each other. Throws <see cref="LockTimeoutException"/> naming the holder.
    /// </summary>
    public ValueTask<ILockHandle> AcquireAsync(Guid inode, LockMode mode, string purpose, string? subject, TimeSpan? timeout, CancellationToken ct = default) =>
        _provider.AcquireAsync(new LockRequest(LockKey.ForAdvisory(inode), mode) { Purpose = purpose, Subject = subject, Timeout = timeout }, ct);

    // ------------------------------------------------------------------------------------------------ operators

    /// <summary>The holders and waiters of a file's whole-file lock (flock, PowerShell).</summary>
    public ValueTask<LockInfo> InspectAsync(Guid inode, CancellationToken ct = default) => _provider.InspectAsync(LockKey.ForAdvisory(inode), ct);

    /// <summary>Every file lock held or waited for: whole-file and byte-range keys, with the file each locks (<see cref="LockKey.AdvisoryInode"/>).</summary>
    public IAsyncEnumerable<LockInfo> ListAsync(CancellationToken ct = default) => _provider.ListAsync(LockKey.AdvisoryPrefix, ct);

    /// <summary>The files locked at one moment, by inode: one lock-service listing, not one query per file.</summary>
    public async Task<IReadOnlyDictionary<Guid, LockInfo>> SnapshotAsync(CancellationToken ct = default)
    {
        var map = new Dictionary<Guid, LockInfo>();
        await foreach (var info in ListAsync(ct).ConfigureAwait(false))
        {
            if (info.Holders.Count > 0 && info.Key.AdvisoryInode is { } id && !map.ContainsKey(id)) map[id] = info;
        }
        return map;
    }

    /// <summary>
    /// An operator breaks a file's whole-file lock (all holders, or the one with <paramref name="participantId"/>);
    /// the reason is recorded where the lock service keeps one. Returns the participants broken.
    /// </summary>
    public Task<IReadOnlyList<LockParticipant>> BreakAsync(Guid inode, string reason, string? participantId = null, CancellationToken ct = default) =>
        BreakAsync(LockKey.ForAdvisory(inode), reason, participantId, ct);

    /// <summary>Breaks a lock by its key, as a listing names it (any key, not only files').</summary>
    public async Task<IReadOnlyList<LockParticipant>> BreakAsync(LockKey key, string reason, string? participantId = null, CancellationToken ct = default)
    {
        var info = await _provider.InspectAsync(key, ct).ConfigureAwait(false);
        var broken = new List<LockParticipant>();
        foreach (var holder in info.Holders.Where(h => participantId is null || h.Id == participantId))
        {
            if (await _provider.BreakAsync(key, holder.Id, reason, ct).ConfigureAwait(false)) broken.Add(holder);
        }
        return broken;
    }

    // ------------------------------------------------------------------------------------------------ fcntl ranges

    /// <summary>F_GETLK: the first lock that would block <paramref name="probe"/>, or the probe with type Unlock.</summary>
    public async ValueTask<RecordLock> TestRangeAsync(Guid inode, ulong owner, RecordLock probe, CancellationToken ct)
    {
        if (!TryRange(probe, out var range) || probe.Type == RecordLockType.Unlock) return probe with { Type = RecordLockType.Unlock };
        if (Enter(inode, create: false) is { } set)
        {
            try
            {
                await set.Gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    if (set.FindConflict(owner, probe.Type, range) is { } local) return set.Coalesced(local).ToRecordLock();
                }
                finally
                {
                    set.Gate.Release();
                }
            }
            finally
            {
                Leave(inode, set);
            }
        }
        var other = await _byteRanges.FindRangeConflictAsync(LockKey.ForByteRanges(inode), ModeOf(probe.Type), range, ct).ConfigureAwait(false);
        if (other is null) return probe with { Type = RecordLockType.Unlock };
        var r = other.Range;
        return new RecordLock(other.Mode == LockMode.Write ? RecordLockType.Write : RecordLockType.Read, r.Start, r.End == long.MaxValue ? 0 : r.End - r.Start, other.Holder.ForProcess ?? 0);
    }

    /// <summary>F_SETLK / F_SETLKW (<paramref name="wait"/>) for one lock owner; <paramref name="subject"/> names the file for listings.</summary>
    public async ValueTask<Errno> SetRangeAsync(Guid inode, ulong owner, RecordLock request, bool wait, CancellationToken interrupted, string? subject = null)
    {
        if (!TryRange(request, out var range)) return Errno.EINVAL;
        if (request.Type == RecordLockType.Unlock) return await UnlockAsync(inode, owner, range).ConfigureAwait(false);
        var set = Enter(inode, create: true)!;
        try
        {
            return await LockAsync(set, inode, owner, request, range, subject, wait, interrupted).ConfigureAwait(false);
        }
        finally
        {
            Leave(inode, set);
        }
    }

    private async ValueTask<Errno> LockAsync(RangeSet set, Guid inode, ulong owner, RecordLock request, ByteRange range, string? subject, bool wait, CancellationToken interrupted)
    {
        while (true)
        {
            // Under the gate: this mount's own conflicts, and which bytes the owner does not hold strongly enough yet.
            Task changed;
            bool conflict;
            List<ByteRange> needed;
            await set.Gate.WaitAsync(interrupted).ConfigureAwait(false);
            try
            {
                changed = set.Changed.Task;
                conflict = set.FindConflict(owner, request.Type, range) is not null;
                needed = conflict ? [] : set.Uncovered(owner, request.Type, range);
                if (!conflict && needed.Count == 0) return await set.LockAsync(owner, request.Type, range, request.Pid, []).ConfigureAwait(false);
            }
            finally
            {
                set.Gate.Release();
            }
            if (conflict)
            {
                if (!wait) return Errno.EAGAIN;
                if (await WaitAsync(changed, interrupted).ConfigureAwait(false) is { } stopped) return stopped;
                continue;
            }
            // Other mounts' ranges, waited for without the gate: this mount's other owners go on (and may unlock).
            var (grants, error) = await AcquireAsync(inode, request, needed, subject, wait, interrupted).ConfigureAwait(false);
            if (grants is null) return error;
            await set.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                changed = set.Changed.Task;
                if (set.FindConflict(owner, request.Type, range) is null && SameRanges(set.Uncovered(owner, request.Type, range), needed))
                    return await set.LockAsync(owner, request.Type, range, request.Pid, grants).ConfigureAwait(false);
            }
            finally
            {
                set.Gate.Release();
            }
            // Another owner of this mount came between: give the grants back and look again.
            foreach (var grant in grants) await ReleaseQuietly(grant).ConfigureAwait(false);
            if (!wait) return Errno.EAGAIN;
            if (await WaitAsync(changed, interrupted).ConfigureAwait(false) is { } interruptedError) return interruptedError;
        }
    }

    /// <summary>Drops every byte-range lock of <paramref name="owner"/> on <paramref name="inode"/> (flush: the process closed a descriptor; release: the last OFD descriptor went).</summary>
    public async ValueTask ReleaseRangesAsync(Guid inode, ulong owner) => await UnlockAsync(inode, owner, ByteRange.WholeFile).ConfigureAwait(false);

    /// <summary>The owner's locks on <paramref name="range"/> go. (A lock service that fails to split a grant leaves that range held; the daemon's session ending frees it.)</summary>
    private async ValueTask<Errno> UnlockAsync(Guid inode, ulong owner, ByteRange range)
    {
        if (Enter(inode, create: false) is not { } set) return Errno.Success;
        try
        {
            await set.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                return await set.UnlockAsync(owner, range).ConfigureAwait(false);
            }
            finally
            {
                set.Gate.Release();
            }
        }
        finally
        {
            Leave(inode, set);
        }
    }

    /// <summary>
    /// <paramref name="owner"/> locked ranges of <paramref name="inode"/> through the open file description
    /// <paramref name="description"/>. An OFD lock's owner is its description, and the kernel tells FUSE neither that
    /// a lock is OFD nor, at release, which owner it had (only flock's): so at release every owner that locked through
    /// the description loses its ranges. A process-owned lock taken through it was dropped already by the flush of the
    /// close that led to this release (POSIX: any close drops the process's locks), so only OFD locks are left to go.
    /// </summary>
    public void NoteRangeOwner(ulong description, Guid inode, ulong owner)
    {
        lock (_gate)
        {
            if (!_ownersByDescription.TryGetValue(description, out var owners)) _ownersByDescription[description] = owners = [];
            owners.Add((inode, owner));
        }
    }

    /// <summary>The open file description <paramref name="description"/> was released: the ranges of every owner that locked through it go.</summary>
    public async ValueTask ReleaseDescriptionAsync(ulong description)
    {
        HashSet<(Guid Inode, ulong Owner)>? owners;
        lock (_gate)
        {
            if (!_ownersByDescription.Remove(description, out owners)) return;
        }
        foreach (var (inode, owner) in owners) await ReleaseRangesAsync(inode, owner).ConfigureAwait(false);
    }

    /// <summary>Number of byte ranges this mount's owners hold on <paramref name="inode"/> (for tests).</summary>
    public int RangeCount(Guid inode)
    {
        lock (_gate) return _ranges.TryGetValue(inode, out var set) ? set.Count : 0;
    }

    private static bool TryRange(RecordLock l, out ByteRange range)
    {
        var end = l.Length == 0 ? long.MaxValue : l.Start + l.Length;
        if (l.Start < 0 || l.Length < 0 || end <= l.Start)
        {
            range = default;
            return false;
        }
        range = new ByteRange(l.Start, end);
        return true;
    }

    private static LockMode ModeOf(RecordLockType type) => type == RecordLockType.Write ? LockMode.Write : LockMode.Read;

    private static bool SameRanges(List<ByteRange> a, List<ByteRange> b) => a.SequenceEqual(b);

    private static async ValueTask<Errno?> WaitAsync(Task changed, CancellationToken interrupted)
    {
        try
        {
            await changed.WaitAsync(interrupted).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            return Errno.EINTR;
        }
    }

    /// <summary>Takes one new grant per needed range, from the other mounts' point of view; all or none.</summary>
    private async ValueTask<(List<IRangeLockHandle>? Grants, Errno Error)> AcquireAsync(Guid inode, RecordLock request, List<ByteRange> needed, string? subject, bool wait, CancellationToken interrupted)
    {
        var grants = new List<IRangeLockHandle>(needed.Count);
        foreach (var range in needed)
        {
            var lockRequest = new RangeLockRequest(LockKey.ForByteRanges(inode), ModeOf(request.Type), range)
            {
                Purpose = request.Type == RecordLockType.Write ? "fcntl F_WRLCK" : "fcntl F_RDLCK",
                Timeout = wait ? null : NonBlockingWait,
                Subject = subject,
                ForProcess = request.Pid,
            };
            var error = await Translate(async () => grants.Add(await _byteRanges.AcquireRangeAsync(lockRequest, interrupted).ConfigureAwait(false))).ConfigureAwait(false);
            if (error == Errno.Success) continue;
            foreach (var grant in grants) await ReleaseQuietly(grant).ConfigureAwait(false);
            return (null, error);
        }
        return (grants, Errno.Success);
    }

    /// <summary>The inode's set, counted as in use until <see cref="Leave"/> (so it is not forgotten under a request that is about to add to it).</summary>
    private RangeSet? Enter(Guid inode, bool create)
    {
        lock (_gate)
        {
            if (!_ranges.TryGetValue(inode, out var set))
            {
                if (!create) return null;
                _ranges[inode] = set = new RangeSet();
            }
            set.Users++;
            return set;
        }
    }

    /// <summary>Forgets the inode's set once nobody uses it and it holds nothing.</summary>
    private void Leave(Guid inode, RangeSet set)
    {
        lock (_gate)
        {
            if (--set.Users == 0 && set.Count == 0) _ranges.Remove(inode);
        }
    }

    /// <summary>The lock service's failures as a lock request answers them.</summary>
    private static async ValueTask<Errno> Translate(Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
            return Errno.Success;
        }
        catch (LockTimeoutException)
        {
            return Errno.EAGAIN;
        }
        catch (OperationCanceledException)
        {
            return Errno.EINTR;
        }
#pragma warning disable CA1031 // A lock service that fails answers ENOLCK, as a network filesystem's lock manager does.
        catch (Exception)
#pragma warning restore CA1031
        {
            return Errno.ENOLCK;
        }
    }

    private static async ValueTask ReleaseQuietly(IAsyncDisposable grant)
    {
        try
        {
            await grant.DisposeAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Unlocking goes on; the grant dies with the session or lease anyway.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private async ValueTask<(ILockHandle? Handle, Errno Error)> AcquireAsync(LockRequest request, CancellationToken interrupted)
    {
        ILockHandle? handle = null;
        var error = await Translate(async () => handle = await _provider.AcquireAsync(request, interrupted).ConfigureAwait(false)).ConfigureAwait(false);
        return (handle, error);
    }

    /// <summary>Releases every lock this mount holds (unmount).</summary>
    public async ValueTask DisposeAsync()
    {
        List<IAsyncDisposable> all;
        lock (_gate)
        {
            all = _flocks.Values.Cast<IAsyncDisposable>().Concat(_ranges.Values.SelectMany(r => r.Grants)).ToList();
            _flocks.Clear();
            _ranges.Clear();
        }
        foreach (var h in all) await ReleaseQuietly(h).ConfigureAwait(false);
    }

    /// <summary>One owner's lock on [Start, End), with the grant that holds it against other mounts.</summary>
    private sealed record HeldRange(ulong Owner, RecordLockType Type, ByteRange Range, int Pid, IRangeLockHandle Grant)
    {
        public RecordLock ToRecordLock() => new(Type, Range.Start, Range.End == long.MaxValue ? 0 : Range.End - Range.Start, Pid);

        public bool Covers(RecordLockType type) => Type == RecordLockType.Write || type == RecordLockType.Read;

        public bool Live => Grant.State is LockState.Held or LockState.Suspended;
    }

    /// <summary>
    /// The byte ranges this mount's owners hold on one inode. Every range has a grant of its own: a split or a
    /// downgrade splits the grant (the pieces keep its place in line), a lock that needs more than the owner holds
    /// takes new grants for the missing bytes first. Ranges are not merged (their grants differ); F_GETLK reports
    /// an owner's touching ranges of one type as one, as Linux's merged locks are.
    /// </summary>
    private sealed class RangeSet
    {
        private readonly List<HeldRange> _ranges = [];

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Count => _ranges.Count;

        /// <summary>Requests inside (guarded by the lock table's lock, not by <see cref="Gate"/>).</summary>
        public int Users { get; set; }

        public IEnumerable<IRangeLockHandle> Grants => _ranges.Select(r => r.Grant);

        private void Signal()
        {
            var old = Changed;
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }

        /// <summary>The conflicting range that starts first (the one Linux's F_GETLK reports), or null.</summary>
        public HeldRange? FindConflict(ulong owner, RecordLockType type, ByteRange range) =>
            _ranges.Where(r => r.Owner != owner && r.Range.Overlaps(range) && (r.Type == RecordLockType.Write || type == RecordLockType.Write))
                .MinBy(r => r.Range.Start);

        /// <summary><paramref name="found"/> widened over the same owner's touching ranges of its type.</summary>
        public HeldRange Coalesced(HeldRange found)
        {
            var (start, end) = (found.Range.Start, found.Range.End);
            for (var grown = true; grown;)
            {
                grown = false;
                foreach (var r in _ranges)
                {
                    if (r.Owner != found.Owner || r.Type != found.Type || r.Range.End < start || r.Range.Start > end) continue;
                    if (r.Range.Start < start || r.Range.End > end)
                    {
                        (start, end) = (Math.Min(start, r.Range.Start), Math.Max(end, r.Range.End));
                        grown = true;
                    }
                }
            }
            return found with { Range = new ByteRange(start, end) };
        }

        /// <summary>The parts of <paramref name="range"/> the owner does not hold with a lock at least as strong as <paramref name="type"/>.</summary>
        public List<ByteRange> Uncovered(ulong owner, RecordLockType type, ByteRange range)
        {
            var gaps = new List<ByteRange>();
            var at = range.Start;
            foreach (var r in _ranges.Where(r => r.Owner == owner && r.Live && r.Covers(type) && r.Range.Overlaps(range)).OrderBy(r => r.Range.Start))
            {
                if (r.Range.Start > at) gaps.Add(new ByteRange(at, r.Range.Start));
                at = Math.Max(at, r.Range.End);
                if (at >= range.End) break;
            }
            if (at < range.End) gaps.Add(new ByteRange(at, range.End));
            return gaps;
        }

        /// <summary>
        /// The owner now holds <paramref name="type"/> on <paramref name="range"/>: its ranges that overlap are split
        /// (what sticks out keeps its type; the inside takes the new type from a grant strong enough, else from
        /// <paramref name="grants"/>, the new grants for the bytes it did not hold strongly enough).
        /// </summary>
        public async ValueTask<Errno> LockAsync(ulong owner, RecordLockType type, ByteRange range, int pid, IReadOnlyList<IRangeLockHandle> grants)
        {
            var error = Errno.Success;
            foreach (var r in _ranges.Where(r => r.Owner == owner && r.Range.Overlaps(range)).ToList())
            {
                var pieces = Outside(r, range);
                var inside = new ByteRange(Math.Max(range.Start, r.Range.Start), Math.Min(range.End, r.Range.End));
                if (r.Covers(type)) pieces.Add((type, inside));
                if (pieces is [var only] && only.Type == r.Type && only.Range == r.Range) continue;
                error = await SplitAsync(r, pieces, pid) is var e && e != Errno.Success ? e : error;
            }
            foreach (var grant in grants) _ranges.Add(new HeldRange(owner, type, grant.Range, pid, grant));
            Signal();
            return error;
        }

        /// <summary>The owner's locks on <paramref name="range"/> go; the parts of its ranges outside it stay.</summary>
        public async ValueTask<Errno> UnlockAsync(ulong owner, ByteRange range)
        {
            var error = Errno.Success;
            var any = false;
            foreach (var r in _ranges.Where(r => r.Owner == owner && r.Range.Overlaps(range)).ToList())
            {
                any = true;
                error = await SplitAsync(r, Outside(r, range), r.Pid) is var e && e != Errno.Success ? e : error;
            }
            if (any) Signal();
            return error;
        }

        private static List<(RecordLockType Type, ByteRange Range)> Outside(HeldRange r, ByteRange range)
        {
            var pieces = new List<(RecordLockType, ByteRange)>(2);
            if (r.Range.Start < range.Start) pieces.Add((r.Type, new ByteRange(r.Range.Start, range.Start)));
            if (r.Range.End > range.End) pieces.Add((r.Type, new ByteRange(range.End, r.Range.End)));
            return pieces;
        }

        /// <summary>Replaces <paramref name="r"/> by its pieces. A grant already lost is dropped with its range (nothing to keep).</summary>
        private async ValueTask<Errno> SplitAsync(HeldRange r, List<(RecordLockType Type, ByteRange Range)> pieces, int pid)
        {
            IReadOnlyList<IRangeLockHandle> made;
            try
            {
                made = await r.Grant.SplitAsync(pieces.Select(p => (ModeOf(p.Type), p.Range)).ToList()).ConfigureAwait(false);
            }
            catch (LockLostException)
            {
                _ranges.Remove(r);
                return Errno.Success;
            }
#pragma warning disable CA1031 // The lock service failed: the range stays as it was, and the caller hears ENOLCK.
            catch (Exception)
#pragma warning restore CA1031
            {
                return Errno.ENOLCK;
            }
            _ranges.Remove(r);
            for (var i = 0; i < made.Count; i++) _ranges.Add(new HeldRange(r.Owner, pieces[i].Type, pieces[i].Range, pieces[i].Type == r.Type ? r.Pid : pid, made[i]));
            return Errno.Success;
        }
    }
}
