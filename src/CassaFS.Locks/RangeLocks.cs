using System.Globalization;

namespace CassaFS.Locks;

/// <summary>The bytes [<see cref="Start"/>, <see cref="End"/>) of a file; <see cref="End"/> = <see cref="long.MaxValue"/> reaches past any end of file.</summary>
public readonly record struct ByteRange
{
    public ByteRange(long start, long end)
    {
        if (start < 0 || end <= start) throw new ArgumentOutOfRangeException(nameof(end), $"[{start}, {end}) is not a byte range.");
        Start = start;
        End = end;
    }

    public long Start { get; }
    public long End { get; }

    /// <summary>From 0 to past any end of file.</summary>
    public static ByteRange WholeFile => new(0, long.MaxValue);

    public bool Overlaps(ByteRange other) => Start < other.End && other.Start < End;

    public bool Contains(ByteRange other) => Start <= other.Start && other.End <= End;

    public override string ToString() =>
        End == long.MaxValue ? string.Create(CultureInfo.InvariantCulture, $"[{Start}, EOF)") : string.Create(CultureInfo.InvariantCulture, $"[{Start}, {End})");
}

/// <summary>A request for a byte-range lock.</summary>
public sealed record RangeLockRequest(LockKey Key, LockMode Mode, ByteRange Range) : LockRequestBase(Key, Mode);

/// <summary>A granted byte-range lock. Dispose (or <see cref="ReleaseAsync"/>) to release it.</summary>
public interface IRangeLockHandle : IAsyncDisposable
{
    LockKey Key { get; }
    LockMode Mode { get; }
    ByteRange Range { get; }
    LockHolder Holder { get; }
    LockState State { get; }

    /// <summary>
    /// Replaces this grant by <paramref name="pieces"/>, each inside <see cref="Range"/> and no stronger than
    /// <see cref="Mode"/> (unlocking a middle, downgrading a part to Read). The pieces are held from the moment they
    /// exist, in this grant's place in line (a waiter queued behind this grant stays behind them), and never wait;
    /// then this grant is released. No pieces: the same as a release. A grant already lost (its session ended) throws
    /// <see cref="LockLostException"/>: it has no place left to lend.
    /// </summary>
    ValueTask<IReadOnlyList<IRangeLockHandle>> SplitAsync(IReadOnlyList<(LockMode Mode, ByteRange Range)> pieces, CancellationToken ct = default);

    ValueTask ReleaseAsync(CancellationToken ct = default);
}

/// <summary>A granted range of another client that conflicts with a probe (F_GETLK's answer).</summary>
public sealed record RangeConflict(LockMode Mode, ByteRange Range, LockHolder Holder);

/// <summary>
/// Byte-range locks (POSIX fcntl records) for one client: ranges held through one instance never conflict with one
/// another (the client, a mount, sorts out its own processes' ranges itself), and conflict with other instances'
/// ranges where they overlap and one of the two is a write.
/// </summary>
public interface IRangeLockProvider
{
    /// <summary>Waits until no other client holds, or waits ahead of us for, a conflicting range. Throws <see cref="LockTimeoutException"/> when the timeout passes.</summary>
    ValueTask<IRangeLockHandle> AcquireRangeAsync(RangeLockRequest request, CancellationToken ct = default);

    /// <summary>A range another client holds that conflicts with <paramref name="mode"/> on <paramref name="range"/>, or null.</summary>
    ValueTask<RangeConflict?> FindRangeConflictAsync(LockKey key, LockMode mode, ByteRange range, CancellationToken ct = default);
}

/// <summary>Byte-range locks on any lock provider: the provider's own when it has them, else <see cref="WholeFileRangeLocks"/>.</summary>
public static class RangeLocks
{
    /// <summary>Ranges for one client of <paramref name="provider"/>: call once per client (a mount), since ranges of one instance never conflict.</summary>
    public static IRangeLockProvider For(ILockProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return provider is IRangeLocksFactory own ? own.NewRangeClient() : new WholeFileRangeLocks(provider);
    }
}

/// <summary>A provider with byte-range locks of its own (ZooKeeper).</summary>
public interface IRangeLocksFactory
{
    /// <summary>A new client of ranges: its ranges conflict with every other client's, never with its own.</summary>
    IRangeLockProvider NewRangeClient();
}

/// <summary>
/// Byte ranges over a provider that locks whole keys only (lwt, bakery, local): the client holds one lock on the key
/// while any of its ranges lives, Read while all are reads, Write once one is a write. Conflicts between clients are
/// never missed, but found at whole-file granularity: two clients locking disjoint ranges exclude each other. Raising
/// the hold from Read to Write releases and re-takes it (the lock contract has no upgrade), so other clients may come
/// between; it goes back to Read only when every write range has gone.
/// </summary>
public sealed class WholeFileRangeLocks : IRangeLockProvider
{
    private readonly ILockProvider _provider;
    private readonly Dictionary<LockKey, Hold> _holds = new();

    public WholeFileRangeLocks(ILockProvider provider) => _provider = provider ?? throw new ArgumentNullException(nameof(provider));

    private sealed class Hold
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public ILockHandle? Lock { get; set; }
        public int Reads { get; set; }
        public int Writes { get; set; }
    }

    private Hold HoldOf(LockKey key)
    {
        lock (_holds)
        {
            if (!_holds.TryGetValue(key, out var hold)) _holds[key] = hold = new Hold();
            return hold;
        }
    }

    public async ValueTask<IRangeLockHandle> AcquireRangeAsync(RangeLockRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var hold = HoldOf(request.Key);
        await hold.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var need = request.Mode == LockMode.Write || hold.Writes > 0 ? LockMode.Write : LockMode.Read;
            if (hold.Lock is not { } held || (held.Mode == LockMode.Read && need == LockMode.Write))
            {
                // Not ForProcess: the one hold serves the ranges of every process of this client.
                var lockRequest = new LockRequest(request.Key, need) { Purpose = request.Purpose, Timeout = request.Timeout, Subject = request.Subject };
                if (hold.Lock is { } read)
                {
                    hold.Lock = null;
                    await read.DisposeAsync().ConfigureAwait(false);
                    try
                    {
                        hold.Lock = await _provider.AcquireAsync(lockRequest, ct).ConfigureAwait(false);
                    }
                    catch
                    {
                        // Give the reads their hold back (shortly, not forever), so the ranges they cover stay guarded.
                        try
                        {
                            hold.Lock = await _provider.AcquireAsync(lockRequest with { Mode = LockMode.Read, Timeout = TimeSpan.FromSeconds(1) }, CancellationToken.None).ConfigureAwait(false);
                        }
                        catch (LockTimeoutException)
                        {
                        }
                        throw;
                    }
                }
                else
                {
                    hold.Lock = await _provider.AcquireAsync(lockRequest, ct).ConfigureAwait(false);
                }
            }
            return Count(new Piece(this, request.Key, hold, request.Mode, request.Range));
        }
        finally
        {
            hold.Gate.Release();
        }
    }

    public async ValueTask<RangeConflict?> FindRangeConflictAsync(LockKey key, LockMode mode, ByteRange range, CancellationToken ct = default)
    {
        ILockHandle? ours;
        lock (_holds) ours = _holds.TryGetValue(key, out var hold) ? hold.Lock : null; // a probe makes no hold
        var info = await _provider.InspectAsync(key, ct).ConfigureAwait(false);
        foreach (var h in info.Holders)
        {
            if (ours is not null && h.FencingToken == ours.FencingToken && h.Holder.Owner == ours.Holder.Owner) continue;
            if (h.Mode == LockMode.Write || mode == LockMode.Write) return new RangeConflict(h.Mode, ByteRange.WholeFile, h.Holder);
        }
        return null;
    }

    private static Piece Count(Piece piece)
    {
        if (piece.Mode == LockMode.Write) piece.Hold.Writes++;
        else piece.Hold.Reads++;
        return piece;
    }

    private async ValueTask ReleaseAsync(LockKey key, Hold hold, LockMode mode)
    {
        await hold.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (mode == LockMode.Write) hold.Writes--;
            else hold.Reads--;
            if (hold.Reads + hold.Writes > 0 || hold.Lock is not { } held) return;
            hold.Lock = null;
            lock (_holds) _holds.Remove(key);
            await held.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            hold.Gate.Release();
        }
    }

    private sealed class Piece(WholeFileRangeLocks owner, LockKey key, Hold hold, LockMode mode, ByteRange range) : IRangeLockHandle
    {
        private int _released;

        public Hold Hold { get; } = hold;
        public LockKey Key { get; } = key;
        public LockMode Mode { get; } = mode;
        public ByteRange Range { get; } = range;
        public LockHolder Holder => Hold.Lock?.Holder ?? LockHolder.ForThisProcess("", "?");
        public LockState State => Volatile.Read(ref _released) == 1 ? LockState.Released : Hold.Lock?.State ?? LockState.Lost;

        public async ValueTask<IReadOnlyList<IRangeLockHandle>> SplitAsync(IReadOnlyList<(LockMode Mode, ByteRange Range)> pieces, CancellationToken ct = default)
        {
            ArgumentNullException.ThrowIfNull(pieces);
            Validate(this, pieces);
            var made = new List<IRangeLockHandle>(pieces.Count);
            await Hold.Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                foreach (var (m, r) in pieces) made.Add(Count(new Piece(owner, Key, Hold, m, r)));
            }
            finally
            {
                Hold.Gate.Release();
            }
            await ReleaseAsync(ct).ConfigureAwait(false);
            return made;
        }

        public ValueTask ReleaseAsync(CancellationToken ct = default) =>
            Interlocked.Exchange(ref _released, 1) == 1 ? ValueTask.CompletedTask : owner.ReleaseAsync(Key, Hold, Mode);

        public ValueTask DisposeAsync() => ReleaseAsync();
    }

    /// <summary>The pieces of a split must lie inside the grant and be no stronger (so they can never need to wait).</summary>
    internal static void Validate(IRangeLockHandle grant, IReadOnlyList<(LockMode Mode, ByteRange Range)> pieces)
    {
        foreach (var (mode, range) in pieces)
        {
            if (!grant.Range.Contains(range) || (mode == LockMode.Write && grant.Mode == LockMode.Read))
                throw new ArgumentException($"a piece {mode} {range} is not inside the {grant.Mode} grant {grant.Range}.", nameof(pieces));
        }
    }
}
