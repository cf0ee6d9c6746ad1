namespace CassaFS.Locks;

/// <summary>Shared (many readers) or exclusive (one writer).</summary>
public enum LockMode
{
    Read,
    Write,
}

/// <summary>How sure a holder can be that it still holds its lock.</summary>
public enum LockState
{
    /// <summary>Held, and the lock service confirms it.</summary>
    Held,
    /// <summary>The connection to the lock service is down but the session/lease may still live: stop making changes that need the lock until it is Held again or Lost.</summary>
    Suspended,
    /// <summary>The session expired or the lease was taken over: another client may hold the lock now.</summary>
    Lost,
    /// <summary>Released by its holder.</summary>
    Released,
}

/// <summary>Who holds (or waits for) a lock, recorded with the lock so that operators can see it.</summary>
public sealed record LockHolder(string Host, int ProcessId, string Purpose, DateTimeOffset Since, string Owner)
{
    /// <summary>Set when an operator broke the lock: who, when and why.</summary>
    public string? BrokenBy { get; init; }

    /// <summary>The account the holding process runs as ("?" in records written before it was kept).</summary>
    public string User { get; init; } = "?";

    /// <summary>What the taker named as locked (a file's path), when it knew one.</summary>
    public string? Subject { get; init; }

    /// <summary>The process the lock was taken for, when the holder takes it for another (a mount for an application).</summary>
    public int? ForProcess { get; init; }

    /// <summary>This process, for the given purpose.</summary>
    public static LockHolder ForThisProcess(string purpose, string owner) =>
        new(Environment.MachineName, Environment.ProcessId, purpose, DateTimeOffset.UtcNow, owner) { User = Environment.UserName };

    /// <summary>This process, taking <paramref name="request"/> (a whole-key or a byte-range one).</summary>
    public static LockHolder ForThisProcess(LockRequestBase request, string owner)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ForThisProcess(request.Purpose, owner) with { Subject = request.Subject, ForProcess = request.ForProcess };
    }

    /// <summary>Who, as people say it: "alice@host (purpose)".</summary>
    public string Display => Purpose.Length == 0 ? $"{User}@{Host}" : $"{User}@{Host} ({Purpose})";

    public override string ToString() => $"{Display}, pid {ProcessId}, since {Since:u}";
}

/// <summary>What every request for a lock says, whole-key (<see cref="LockRequest"/>) or byte-range (<see cref="RangeLockRequest"/>).</summary>
public abstract record LockRequestBase(LockKey Key, LockMode Mode)
{
    /// <summary>What the lock is for, shown to operators ("write /a/b", "rename", "fcntl F_WRLCK").</summary>
    public string Purpose { get; init; } = "";

    /// <summary>How long to wait for the lock; null waits until cancelled.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>What is locked, as the taker names it (a file's path), kept in the holder record for listings.</summary>
    public string? Subject { get; init; }

    /// <summary>The process the lock is taken for, when the taker takes it for another (a mount for an application), reported with conflicts (F_GETLK's l_pid).</summary>
    public int? ForProcess { get; init; }
}

/// <summary>A request for a lock on a whole key.</summary>
public sealed record LockRequest(LockKey Key, LockMode Mode) : LockRequestBase(Key, Mode)
{
    /// <summary>
    /// The key names something just made that nobody else can have asked for yet (a new file's id): a provider may
    /// take such a lock in fewer steps. Only a hint: a lock asked for meanwhile is taken in the usual way.
    /// </summary>
    public bool Fresh { get; init; }
}

/// <summary>A granted lock. Dispose (or <see cref="ReleaseAsync"/>) to release it; release is retried until confirmed.</summary>
public interface ILockHandle : IAsyncDisposable
{
    LockKey Key { get; }
    LockMode Mode { get; }

    /// <summary>Strictly increasing per key across grants: storage can refuse a write carrying a smaller token.</summary>
    long FencingToken { get; }

    LockHolder Holder { get; }

    LockState State { get; }

    /// <summary>Raised when <see cref="State"/> changes (Suspended, Held again, Lost).</summary>
    event EventHandler<LockState>? StateChanged;

    /// <summary>Cancelled when the lock is lost: pass it to work that must stop when the lock goes.</summary>
    CancellationToken LostToken { get; }

    /// <summary>
    /// Cancelled once someone waits for this lock whom it blocks (another client, or another lock of this one), or
    /// the provider can no longer tell: a holder that keeps a lock between operations lets it go then. The first
    /// read starts the watch. A provider that cannot tell gives a token that is never cancelled
    /// (<see cref="CancellationToken.CanBeCanceled"/> is false): such a lock must not be kept idle.
    /// </summary>
    CancellationToken ContendedToken => CancellationToken.None;

    ValueTask ReleaseAsync(CancellationToken ct = default);
}

/// <summary>One lock as an operator sees it.</summary>
public sealed record LockInfo(LockKey Key, IReadOnlyList<LockParticipant> Holders, IReadOnlyList<LockParticipant> Waiters);

/// <summary>A holder or waiter of a lock, with the id an operator passes to break it.</summary>
public sealed record LockParticipant(string Id, LockMode Mode, LockHolder Holder, long FencingToken)
{
    /// <summary>The byte range held or waited for (null: the whole key).</summary>
    public ByteRange? Range { get; init; }
}

/// <summary>
/// A lock implementation: the ZooKeeper recipes, the Cassandra LWT lease, the bakery lock, or an in-process one
/// for a single client. The filesystem is written against this interface only.
/// </summary>
public interface ILockProvider : IAsyncDisposable
{
    /// <summary>The implementation's name as users choose it ("zookeeper", "lwt", "bakery", "local").</summary>
    string Name { get; }

    /// <summary>Waits for the lock. Throws <see cref="LockTimeoutException"/> naming the current holder when the timeout passes.</summary>
    ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default);

    /// <summary>Every lock currently held or waited for, with holders and waiters (optionally only keys starting with a prefix).</summary>
    IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, CancellationToken ct = default);

    /// <summary>The holders and waiters of one lock (empty lists when free).</summary>
    ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default);

    /// <summary>An operator breaks a holder's lock (its node or lease is removed; the record says who broke it and why). False when it was already gone.</summary>
    ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default);
}

/// <summary>A lock was not granted in time; says who holds it.</summary>
public sealed class LockTimeoutException : TimeoutException
{
    public LockTimeoutException(LockKey key, TimeSpan waited, IReadOnlyList<LockParticipant> holders)
        : base($"Timed out after {waited.TotalSeconds:F1} s waiting for lock {key}; held by " +
               (holders.Count == 0 ? "nobody any more (retry)" : string.Join("; ", holders.Select(h => $"{h.Holder} [{h.Mode}]"))) + ".")
    {
        Key = key;
        Holders = holders;
    }

    /// <summary>A refusal worded for its caller (the holders as the lock service reported them).</summary>
    public LockTimeoutException(LockKey key, IReadOnlyList<LockParticipant> holders, string message)
        : base(message)
    {
        Key = key;
        Holders = holders;
    }

    public LockKey Key { get; }
    public IReadOnlyList<LockParticipant> Holders { get; }
}

/// <summary>The lock was lost while held (session expired, lease taken over, broken by an operator).</summary>
public sealed class LockLostException : Exception
{
    public LockLostException(LockKey key, string reason) : base($"Lock {key} was lost: {reason}. Changes made under it may need to be checked (fsck).")
    {
        Key = key;
    }

    public LockKey Key { get; }
}
