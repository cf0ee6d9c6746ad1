using CassaFS.Locks;

namespace CassaFS;

/// <summary>
/// The locks one operation holds, taken in the one global order (ordinal order of <see cref="LockKey"/>), so two
/// clients taking overlapping sets can never deadlock. A key wanted twice is taken once, in the stronger mode.
/// </summary>
internal sealed class LockSet : IAsyncDisposable
{
    private readonly List<ILockHandle> _handles;
    private Dictionary<LockKey, BlockStamps>? _stamps;

    private LockSet(List<ILockHandle> handles) => _handles = handles;

    /// <summary>
    /// Takes the locks in order. With <paramref name="kept"/>, a key this client keeps is borrowed from the kept ones
    /// (at its place in the order, waiting its turn there), and the directories in <paramref name="keep"/> are taken
    /// exclusive and kept for this client's next operations in them (<see cref="KeptLocks"/>).
    /// </summary>
    public static async Task<LockSet> AcquireAsync(ILockProvider provider, IEnumerable<(LockKey Key, LockMode Mode)> wanted,
        string purpose, TimeSpan timeout, CancellationToken ct, KeptLocks? kept = null, IReadOnlyCollection<LockKey>? keep = null, bool fresh = false)
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
                var request = new LockRequest(key, mode) { Purpose = purpose, Timeout = timeout, Fresh = fresh };
                var keepIt = keep?.Contains(key) == true;
                handles.Add(kept is not null
                    ? await kept.AcquireAsync(keepIt ? request with { Purpose = purpose + " (kept for the directory's next names)" } : request, keepIt, ct).ConfigureAwait(false)
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
    /// A stamp for a name written in directory <paramref name="id"/>, or for inode <paramref name="id"/>'s link count
    /// (whose exclusive lock this set must hold), above every stamp given under earlier grants of that lock and before
    /// under this one (<see cref="BlockStamps"/>).
    /// </summary>
    public long Stamp(Guid id)
    {
        var key = LockKey.ForInode(id);
        var handle = _handles.FirstOrDefault(h => h.Key == key && h.Mode == LockMode.Write)
            ?? throw new InvalidOperationException($"the exclusive lock {key} is not held by this operation");
        if (handle is KeptLocks.Lent lent) return lent.NextStamp();
        _stamps ??= new Dictionary<LockKey, BlockStamps>();
        if (!_stamps.TryGetValue(key, out var stamps)) _stamps[key] = stamps = new BlockStamps(handle.FencingToken);
        return stamps.Next();
    }

    /// <summary>
    /// The directory <paramref name="id"/> as last read under the kept lock this set borrowed for it (its
    /// mode, owner and link count; not its times), or null. See <see cref="KeptLocks"/>.
    /// </summary>
    public Inode? KeptDirectory(Guid id) => Loan(id) is { State: LockState.Held } loan ? loan.Directory : null;

    /// <summary>Remembers <paramref name="directory"/> with the kept lock this set borrowed for it, for the next operation under the same grant.</summary>
    public void KeepDirectory(Inode directory)
    {
        if (Loan(directory.Id) is { } loan) loan.Directory = directory;
    }

    /// <summary>Drops the directories remembered with the kept locks this set borrowed: the operation changes their link counts.</summary>
    public void ForgetDirectories()
    {
        foreach (var loan in _handles.OfType<KeptLocks.Lent>()) loan.Directory = null;
    }

    /// <summary>
    /// Has <paramref name="work"/> done before the kept lock this set borrowed for <paramref name="dir"/> goes, while no
    /// other client can hold it; returns the way to call that off, or null (and does nothing) when that lock is not kept.
    /// </summary>
    public Action? BeforeLetGo(Guid dir, object owner, Func<Task> work)
    {
        if (Loan(dir) is not { State: LockState.Held } loan) return null;
        loan.Guard(owner, work);
        return () => loan.Unguard(owner);
    }

    /// <summary>What is known of <paramref name="name"/> under the kept lock this set borrowed for <paramref name="dir"/> (nothing when none).</summary>
    public KeptLocks.NameKnowledge Known(Guid dir, string name) => Loan(dir) is { State: LockState.Held } loan ? loan.Peek(name) : default;

    /// <summary>Whether, under the kept lock this set borrowed for <paramref name="dir"/>, <paramref name="name"/> is known absent (see <see cref="KeptLocks"/>).</summary>
    public bool KnownAbsent(Guid dir, string name) => Known(dir, name) is { Known: true, Entry: null };

    /// <summary>
    /// The kept lock this set borrowed for <paramref name="dir"/>, when the directory's names are not known for its
    /// grant yet: list them (at most <see cref="KeptLocks.ListedNames"/>) with <see cref="KeptLocks.NoteListing"/>.
    /// </summary>
    public KeptLocks.NameLook? ListingWanted(Guid dir) => Loan(dir) is { State: LockState.Held, Unlisted: true } loan ? loan.ListingLook() : null;

    /// <summary>
    /// Runs a write of <paramref name="names"/> in <paramref name="dir"/> (each with what it makes the name, null for
    /// a removal), with the kept lock it is made under (if borrowed) told of it, so that what this client knows of the
    /// directory's names stays true.
    /// </summary>
    public async Task WritingNamesAsync(Guid dir, IReadOnlyList<(string Name, DirectoryEntry? Now)> names, Func<Task> write)
    {
        var loan = Loan(dir);
        foreach (var (name, _) in names) loan?.NameWriteStarting(name);
        var succeeded = false;
        try
        {
            await write().ConfigureAwait(false);
            succeeded = true;
        }
        finally
        {
            foreach (var (name, now) in names) loan?.NameWriteEnded(name, succeeded, now);
        }
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
