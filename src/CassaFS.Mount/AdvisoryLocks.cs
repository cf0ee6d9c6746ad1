using CassaFS.Fuse;
using CassaFS.Locks;

namespace CassaFS.Mount;

using Errno = CassaFS.Fuse.Errno;

/// <summary>
/// Applications' advisory locks (flock(2) and fcntl(2) byte ranges) held across every mount of a filesystem,
/// through the lock provider the filesystem runs with (ZooKeeper: ephemeral nodes, so a dead daemon's locks go with
/// its session).
/// <para>flock: one provider lock per (inode, open-file owner) on <see cref="LockKey.ForAdvisory"/>, shared or
/// exclusive. Converting shared to exclusive releases first, as Linux's flock does (the conversion is not atomic).
/// LOCK_NB waits <see cref="NonBlockingWait"/> at most, then answers EWOULDBLOCK.</para>
/// <para>fcntl byte ranges: exact per-range conflicts among the owners of this mount (split and merge as POSIX
/// says); across mounts the mount holds one provider lock on <c>advisory/posix-{inode}</c> while any of its owners
/// holds a range, shared when all its ranges are read locks, exclusive when one is a write lock. So across mounts
/// conflicts are found at whole-file granularity: never missed, but two mounts writing disjoint ranges of one file
/// exclude each other. Raising a mount's read hold to a write hold releases and re-takes (not atomic).</para>
/// </summary>
public sealed class AdvisoryLocks : IAsyncDisposable
{
    private readonly ILockProvider _provider;
    private readonly object _gate = new();
    private readonly Dictionary<(Guid Inode, ulong Owner), ILockHandle> _flocks = new();
    private readonly Dictionary<Guid, RangeSet> _ranges = new();

    public AdvisoryLocks(ILockProvider provider) => _provider = provider ?? throw new ArgumentNullException(nameof(provider));

    /// <summary>How long a non-blocking request (LOCK_NB, F_SETLK) waits for the provider before answering EAGAIN.</summary>
    public TimeSpan NonBlockingWait { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The provider key of the cross-mount hold behind fcntl byte-range locks of <paramref name="inode"/>.</summary>
    public static LockKey PosixKey(Guid inode) => LockKey.Parse($"advisory/posix-{inode:D}");

    // ------------------------------------------------------------------------------------------------ flock

    /// <summary>flock(2) for one open-file owner; <paramref name="subject"/> names the file for listings (its path, when known).</summary>
    public async ValueTask<Errno> FlockAsync(Guid inode, ulong owner, FlockOperation operation, CancellationToken interrupted, string? subject = null)
    {
        var key = (inode, owner);
        ILockHandle? held;
        lock (_gate) _flocks.TryGetValue(key, out held);
        if ((operation & FlockOperation.Unlock) != 0)
        {
            await ReleaseFlockAsync(inode, owner).ConfigureAwait(false);
            return Errno.Success;
        }
        var mode = (operation & FlockOperation.Exclusive) != 0 ? LockMode.Write : LockMode.Read;
        if (held is not null)
        {
            if (held.Mode == mode && held.State is LockState.Held or LockState.Suspended) return Errno.Success;
            await ReleaseFlockAsync(inode, owner).ConfigureAwait(false);
        }
        var request = new LockRequest(LockKey.ForAdvisory(inode), mode)
        {
            Purpose = $"flock {(mode == LockMode.Write ? "LOCK_EX" : "LOCK_SH")}",
            Subject = subject,
            Timeout = (operation & FlockOperation.NonBlocking) != 0 ? NonBlockingWait : null,
        };
        var (handle, error) = await AcquireAsync(request, interrupted).ConfigureAwait(false);
        if (handle is null) return error;
        lock (_gate) _flocks[key] = handle;
        return Errno.Success;
    }

    /// <summary>Drops the flock of <paramref name="owner"/> on <paramref name="inode"/> (release with FlockRelease, LOCK_UN).</summary>
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

    // ------------------------------------------------------------------------------------------------ fcntl ranges

    /// <summary>F_GETLK: the first lock that would block <paramref name="probe"/>, or the probe with type Unlock.</summary>
    public async ValueTask<PosixLock> TestRangeAsync(Guid inode, ulong owner, PosixLock probe, CancellationToken ct)
    {
        var set = RangesOf(inode);
        await set.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (set.FindConflict(owner, probe) is { } local) return local.ToPosixLock();
            if (set.Held is not null && (set.Held.Mode == LockMode.Write || probe.Type == PosixLockType.Read)) return probe with { Type = PosixLockType.Unlock };
        }
        finally
        {
            set.Gate.Release();
        }
        // Another mount's hold covers the whole file as far as we can tell.
        var info = await _provider.InspectAsync(PosixKey(inode), ct).ConfigureAwait(false);
        foreach (var h in info.Holders)
        {
            bool ours = h.Holder.ProcessId == Environment.ProcessId && string.Equals(h.Holder.Host, Environment.MachineName, StringComparison.Ordinal);
            if (ours) continue;
            if (h.Mode == LockMode.Write || probe.Type == PosixLockType.Write)
                return new PosixLock(h.Mode == LockMode.Write ? PosixLockType.Write : PosixLockType.Read, 0, 0, 0);
        }
        return probe with { Type = PosixLockType.Unlock };
    }

    /// <summary>F_SETLK / F_SETLKW (<paramref name="wait"/>) for one lock owner.</summary>
    public async ValueTask<Errno> SetRangeAsync(Guid inode, ulong owner, PosixLock range, bool wait, CancellationToken interrupted)
    {
        var set = RangesOf(inode);
        var end = range.Length == 0 ? long.MaxValue : range.Start + range.Length;
        if (range.Start < 0 || end < range.Start) return Errno.EINVAL;
        while (true)
        {
            Task changed;
            await set.Gate.WaitAsync(interrupted).ConfigureAwait(false);
            try
            {
                if (range.Type == PosixLockType.Unlock)
                {
                    set.Remove(owner, range.Start, end);
                    await SettleHoldAsync(inode, set).ConfigureAwait(false);
                    return Errno.Success;
                }
                if (set.FindConflict(owner, range) is null)
                {
                    var need = range.Type == PosixLockType.Write || set.HasWrite(except: owner, range.Start, end) ? LockMode.Write : LockMode.Read;
                    var error = await RaiseHoldAsync(inode, set, need, wait, interrupted).ConfigureAwait(false);
                    if (error != Errno.Success) return error;
                    set.Remove(owner, range.Start, end);
                    set.Add(new HeldRange(owner, range.Type, range.Start, end, range.Pid));
                    return Errno.Success;
                }
                if (!wait) return Errno.EAGAIN;
                changed = set.Changed.Task;
            }
            finally
            {
                set.Gate.Release();
            }
            try
            {
                await changed.WaitAsync(interrupted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return Errno.EINTR;
            }
        }
    }

    /// <summary>Drops every byte-range lock of <paramref name="owner"/> on <paramref name="inode"/> (flush: the process closed a descriptor).</summary>
    public async ValueTask ReleaseRangesAsync(Guid inode, ulong owner)
    {
        RangeSet? set;
        lock (_gate)
        {
            if (!_ranges.TryGetValue(inode, out set)) return;
        }
        await set.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (set.Remove(owner, 0, long.MaxValue)) await SettleHoldAsync(inode, set).ConfigureAwait(false);
        }
        finally
        {
            set.Gate.Release();
        }
    }

    private RangeSet RangesOf(Guid inode)
    {
        lock (_gate)
        {
            if (!_ranges.TryGetValue(inode, out var set)) _ranges[inode] = set = new RangeSet();
            return set;
        }
    }

    private async ValueTask<Errno> RaiseHoldAsync(Guid inode, RangeSet set, LockMode need, bool wait, CancellationToken interrupted)
    {
        if (set.Held is { } held && (held.Mode == LockMode.Write || need == LockMode.Read)) return Errno.Success;
        var timeout = wait ? (TimeSpan?)null : NonBlockingWait;
        if (set.Held is { } read)
        {
            // No upgrade in the lock contract: release the shared hold, then queue for the exclusive one.
            set.Held = null;
            await read.DisposeAsync().ConfigureAwait(false);
            var (write, error) = await AcquireAsync(new LockRequest(PosixKey(inode), LockMode.Write) { Purpose = "fcntl F_WRLCK", Timeout = timeout }, interrupted).ConfigureAwait(false);
            if (write is not null)
            {
                set.Held = write;
                return Errno.Success;
            }
            (set.Held, _) = await AcquireAsync(new LockRequest(PosixKey(inode), LockMode.Read) { Purpose = "fcntl F_RDLCK", Timeout = NonBlockingWait }, CancellationToken.None).ConfigureAwait(false);
            return error;
        }
        var (handle, failure) = await AcquireAsync(new LockRequest(PosixKey(inode), need)
        {
            Purpose = need == LockMode.Write ? "fcntl F_WRLCK" : "fcntl F_RDLCK",
            Timeout = timeout,
        }, interrupted).ConfigureAwait(false);
        set.Held = handle;
        return handle is null ? failure : Errno.Success;
    }

    /// <summary>After an unlock: lets go of the cross-mount hold once this mount holds no range of the file.</summary>
    private async ValueTask SettleHoldAsync(Guid inode, RangeSet set)
    {
        set.Signal();
        if (set.Count > 0 || set.Held is null) return;
        var held = set.Held;
        set.Held = null;
        await held.DisposeAsync().ConfigureAwait(false);
        lock (_gate)
        {
            if (set.Count == 0 && set.Held is null) _ranges.Remove(inode);
        }
    }

    private async ValueTask<(ILockHandle? Handle, Errno Error)> AcquireAsync(LockRequest request, CancellationToken interrupted)
    {
        try
        {
            return (await _provider.AcquireAsync(request, interrupted).ConfigureAwait(false), Errno.Success);
        }
        catch (LockTimeoutException)
        {
            return (null, Errno.EAGAIN);
        }
        catch (OperationCanceledException)
        {
            return (null, Errno.EINTR);
        }
#pragma warning disable CA1031 // A lock service that fails answers ENOLCK, as a network filesystem's lock manager does.
        catch (Exception)
#pragma warning restore CA1031
        {
            return (null, Errno.ENOLCK);
        }
    }

    /// <summary>Releases every lock this mount holds (unmount).</summary>
    public async ValueTask DisposeAsync()
    {
        List<ILockHandle> all;
        lock (_gate)
        {
            all = _flocks.Values.Concat(_ranges.Values.Select(r => r.Held).OfType<ILockHandle>()).ToList();
            _flocks.Clear();
            _ranges.Clear();
        }
        foreach (var h in all)
        {
            try
            {
                await h.DisposeAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Unmounting goes on; the lock dies with the session or lease anyway.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }

    private readonly record struct HeldRange(ulong Owner, PosixLockType Type, long Start, long End, int Pid)
    {
        public bool Overlaps(long start, long end) => Start < end && start < End;

        public PosixLock ToPosixLock() => new(Type, Start, End == long.MaxValue ? 0 : End - Start, Pid);
    }

    /// <summary>The byte ranges this mount's owners hold on one inode, and the mount's cross-mount hold.</summary>
    private sealed class RangeSet
    {
        private readonly List<HeldRange> _ranges = [];

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public ILockHandle? Held { get; set; }

        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Count => _ranges.Count;

        public void Signal()
        {
            var old = Changed;
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }

        public HeldRange? FindConflict(ulong owner, PosixLock probe)
        {
            var end = probe.Length == 0 ? long.MaxValue : probe.Start + probe.Length;
            foreach (var r in _ranges)
            {
                if (r.Owner != owner && r.Overlaps(probe.Start, end) && (r.Type == PosixLockType.Write || probe.Type == PosixLockType.Write)) return r;
            }
            return null;
        }

        public bool HasWrite(ulong except, long start, long end) =>
            _ranges.Exists(r => r.Type == PosixLockType.Write && !(r.Owner == except && r.Start >= start && r.End <= end));

        public void Add(HeldRange range)
        {
            _ranges.Add(range);
        }

        /// <summary>Removes <paramref name="owner"/>'s locks on [start, end), splitting ranges that stick out.</summary>
        public bool Remove(ulong owner, long start, long end)
        {
            bool any = false;
            for (int i = _ranges.Count - 1; i >= 0; i--)
            {
                var r = _ranges[i];
                if (r.Owner != owner || !r.Overlaps(start, end)) continue;
                any = true;
                _ranges.RemoveAt(i);
                if (r.Start < start) _ranges.Add(r with { End = start });
                if (r.End > end) _ranges.Add(r with { Start = end });
            }
            if (any) Signal();
            return any;
        }
    }
}
