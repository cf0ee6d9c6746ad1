using CassaFS.Locks;

namespace CassaFS;

/// <summary>
/// The locks one operation holds, taken in the one global order (ordinal order of <see cref="LockKey"/>), so two
/// clients taking overlapping sets can never deadlock. A key wanted twice is taken once, in the stronger mode.
/// </summary>
internal sealed class LockSet : IAsyncDisposable
{
    private readonly List<ILockHandle> _handles;

    private LockSet(List<ILockHandle> handles) => _handles = handles;

    /// <summary>
    /// Takes the locks in order. With <paramref name="kept"/>, the shared lock on <paramref name="keep"/> comes from
    /// (and goes back to) the kept ones, and a kept lock on a key wanted exclusive is let go first: this client would
    /// otherwise wait for its own kept lock to notice it is wanted.
    /// </summary>
    public static async Task<LockSet> AcquireAsync(ILockProvider provider, IEnumerable<(LockKey Key, LockMode Mode)> wanted,
        string purpose, TimeSpan timeout, CancellationToken ct, KeptLocks? kept = null, LockKey? keep = null)
    {
        var ordered = wanted
            .GroupBy(w => w.Key)
            .Select(g => (Key: g.Key, Mode: g.Any(w => w.Mode == LockMode.Write) ? LockMode.Write : LockMode.Read))
            .OrderBy(w => w.Key)
            .ToList();
        var handles = new List<ILockHandle>(ordered.Count);
        try
        {
            foreach (var (key, mode) in ordered)
            {
                var request = new LockRequest(key, mode) { Purpose = purpose, Timeout = timeout };
                if (kept is not null && mode == LockMode.Write) await kept.YieldAsync(key).ConfigureAwait(false);
                handles.Add(kept is not null && mode == LockMode.Read && key == keep
                    ? await kept.AcquireAsync(request with { Purpose = purpose + " (kept for the directory's next names)" }, ct).ConfigureAwait(false)
                    : await provider.AcquireAsync(request, ct).ConfigureAwait(false));
            }
            return new LockSet(handles);
        }
        catch (LockTimeoutException e)
        {
            await ReleaseAllAsync(handles).ConfigureAwait(false);
            throw Busy(purpose, e);
        }
        catch
        {
            await ReleaseAllAsync(handles).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A lock not granted in time is EAGAIN for the operation, with the holder named in the message.</summary>
    public static FileSystemException Busy(string subject, LockTimeoutException e) => new(Errno.EAGAIN, subject, e.Message, e);

    /// <summary>The fencing token of the lock on <paramref name="key"/> (which this set must hold).</summary>
    public long TokenFor(LockKey key) =>
        _handles.FirstOrDefault(h => h.Key == key)?.FencingToken ?? throw new InvalidOperationException($"lock {key} is not held by this operation");

    /// <summary>
    /// The directory <paramref name="id"/> as last read under the kept shared lock this set borrowed for it (its
    /// mode, owner and link count; not its times), or null. See <see cref="KeptLocks"/>.
    /// </summary>
    public Inode? KeptDirectory(Guid id) => Loan(id) is { State: LockState.Held } loan ? loan.Directory : null;

    /// <summary>Remembers <paramref name="directory"/> with the kept lock this set borrowed for it, for the next operation under the same grant.</summary>
    public void KeepDirectory(Inode directory)
    {
        if (Loan(directory.Id) is { } loan) loan.Directory = directory;
    }

    private KeptLocks.Lent? Loan(Guid id)
    {
        var key = LockKey.ForInode(id);
        return _handles.OfType<KeptLocks.Lent>().FirstOrDefault(h => h.Key == key);
    }

    /// <summary>True while every lock is confirmed held (none suspended, lost or released).</summary>
    public bool AllHeld => _handles.TrueForAll(h => h.State == LockState.Held);

    /// <summary>Fails the operation if a lock was lost (session expired, lease taken over): its changes would not be protected.</summary>
    public void ThrowIfLost(string subject)
    {
        var lost = _handles.FirstOrDefault(h => h.State is LockState.Lost or LockState.Released);
        if (lost is not null)
            throw new FileSystemException(Errno.EIO, subject, $"lock {lost.Key} was lost while the operation ran; retry (and run fsck if it keeps happening)");
    }

    public ValueTask DisposeAsync() => new(ReleaseAllAsync(_handles));

    private static async Task ReleaseAllAsync(List<ILockHandle> handles)
    {
        // All at once: only the order of taking locks matters (against deadlock), and a release failure must not keep
        // the other locks (the provider retries a release until confirmed or the session is gone; the first failure,
        // if any, is what this throws).
        var releases = handles.Select(ReleaseAsync).ToList();
        handles.Clear();
        await Task.WhenAll(releases).ConfigureAwait(false);

        static async Task ReleaseAsync(ILockHandle handle) => await handle.DisposeAsync().ConfigureAwait(false); // a throw before its first await lands in the task too
    }
}
