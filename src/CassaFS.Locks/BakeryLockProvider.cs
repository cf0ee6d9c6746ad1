using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using CassaFS.Cql;

namespace CassaFS.Locks;

/// <summary>
/// Lamport's bakery algorithm on two Cassandra tables (<c>bakery_choosing</c>, <c>bakery_numbers</c>), every read
/// and write at QUORUM, for a FIXED set of participants each constructed with its own index. Honest limits:
/// <list type="bullet">
/// <item>The participant set is fixed at construction; two clients using the same index break mutual exclusion.</item>
/// <item>Each acquire reads every participant's row (O(N) data per read) and polls until its turn: slow, busy.</item>
/// <item>No fault tolerance: a participant that dies holding a number (or with choosing set) blocks every other one
/// until an operator breaks it (<see cref="BreakAsync"/> clears its number). There is no lease, so a holder is never
/// told Lost; it stays Held until it releases.</item>
/// <item>Exclusive only: a <see cref="LockMode.Read"/> request takes the lock exclusively.</item>
/// <item>Correct only if each participant's writes are ordered by their timestamps (one session per participant, the
/// session's monotonic client timestamps) and QUORUM reads see the last QUORUM write.</item>
/// </list>
/// The fencing token comes from a counter read and incremented inside the critical section (plain QUORUM writes are
/// enough there: only the holder touches it).
/// </summary>
public sealed class BakeryLockProvider : ILockProvider
{
    private readonly CqlSession _session;
    private readonly string _ks;

    /// <param name="session">This participant's session (its own: see the timestamp note above).</param>
    /// <param name="keyspace">Where <see cref="EnsureSchemaAsync"/> made the tables.</param>
    /// <param name="participant">This client's index, 0 ≤ index &lt; <paramref name="participants"/>, unique among the clients.</param>
    /// <param name="participants">How many clients take part (fixed).</param>
    /// <param name="maxPoll">Longest pause between two reads while waiting (default 100 ms).</param>
    public BakeryLockProvider(CqlSession session, string keyspace, int participant, int participants, TimeSpan? maxPoll = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfLessThan(participants, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(participant);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(participant, participants);
        _session = session;
        _ks = CqlIdentifier.Keyspace(keyspace);
        Participant = participant;
        Participants = participants;
        MaxPoll = maxPoll ?? TimeSpan.FromMilliseconds(100);
        Owner = $"{Environment.MachineName}:{Environment.ProcessId}:bakery-{participant}";
    }

    public string Name => "bakery";

    public int Participant { get; }
    public int Participants { get; }
    public TimeSpan MaxPoll { get; }
    public string Owner { get; }

    /// <summary>Of every read and write of the algorithm: one whose reads see every acknowledged write (QUORUM, LOCAL_QUORUM in one data center, ALL); weaker breaks exclusion.</summary>
    public Consistency Consistency { get; init; } = Consistency.Quorum;

    /// <summary>Creates the choosing, numbers and fence tables in <paramref name="keyspace"/> (which must exist) if missing.</summary>
    public static async Task EnsureSchemaAsync(CqlSession session, string keyspace, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var ks = CqlIdentifier.Keyspace(keyspace);
        await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE IF NOT EXISTS {ks}.bakery_choosing (key text, participant int, choosing boolean, PRIMARY KEY (key, participant))"), ct).ConfigureAwait(false);
        await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE IF NOT EXISTS {ks}.bakery_numbers (key text, participant int, number bigint, holder text, PRIMARY KEY (key, participant))"), ct).ConfigureAwait(false);
        await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE IF NOT EXISTS {ks}.bakery_fences (key text PRIMARY KEY, fence bigint)"), ct).ConfigureAwait(false);
    }

    private async Task<RowSet> RunAsync(string cql, CancellationToken ct, params object?[] values)
    {
        var statement = await _session.PrepareAsync(cql.Replace("{ks}", _ks, StringComparison.Ordinal), ct).ConfigureAwait(false);
        // Every statement here is idempotent (a participant rewrites its own row, or reads): retry what did not answer.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _session.ExecuteAsync(statement.Bind(values).WithConsistency(Consistency), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (CqlIdentifier.IsTransient(e) && attempt < 5 && !ct.IsCancellationRequested)
            {
                await Task.Delay(50 * attempt, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task SetChoosingAsync(LockKey key, int participant, bool choosing, CancellationToken ct) =>
        await RunAsync("UPDATE {ks}.bakery_choosing SET choosing = ? WHERE key = ? AND participant = ?", ct, choosing, key.Value, participant).ConfigureAwait(false);

    private async Task SetNumberAsync(LockKey key, int participant, long number, string? holder, CancellationToken ct) =>
        await RunAsync("UPDATE {ks}.bakery_numbers SET number = ?, holder = ? WHERE key = ? AND participant = ?", ct, number, holder, key.Value, participant).ConfigureAwait(false);

    private async Task<List<(int Participant, long Number, string? Holder)>> NumbersAsync(LockKey key, CancellationToken ct) =>
        (await RunAsync("SELECT participant, number, holder FROM {ks}.bakery_numbers WHERE key = ?", ct, key.Value).ConfigureAwait(false))
            .Select(r => (r.Get<int>(0), r.Get<long?>(1) ?? 0, r.Get<string?>(2))).ToList();

    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var key = request.Key;
        var holder = LockHolder.ForThisProcess(request, Owner);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (request.Timeout is { } t) limit.CancelAfter(t);
        try
        {
            // The doorway: take a number larger than any seen.
            await SetChoosingAsync(key, Participant, true, limit.Token).ConfigureAwait(false);
            var mine = 1 + (await NumbersAsync(key, limit.Token).ConfigureAwait(false)).Select(n => n.Number).DefaultIfEmpty(0).Max();
            await SetNumberAsync(key, Participant, mine, HolderRecord.SerializeText(holder), limit.Token).ConfigureAwait(false);
            await SetChoosingAsync(key, Participant, false, limit.Token).ConfigureAwait(false);

            // Wait until nobody is still choosing, then until nobody holds a smaller (number, index).
            var pause = new Backoff(MaxPoll);
            while ((await RunAsync("SELECT participant, choosing FROM {ks}.bakery_choosing WHERE key = ?", limit.Token, key.Value).ConfigureAwait(false))
                   .Any(r => r.Get<int>(0) != Participant && r.Get<bool?>(1) == true))
                await pause.WaitAsync(limit.Token).ConfigureAwait(false);
            while ((await NumbersAsync(key, limit.Token).ConfigureAwait(false))
                   .Any(n => n.Participant != Participant && n.Number != 0 && (n.Number < mine || (n.Number == mine && n.Participant < Participant))))
                await pause.WaitAsync(limit.Token).ConfigureAwait(false);

            var token = await NextFenceAsync(key, limit.Token).ConfigureAwait(false);
            return new BakeryHandle(this, request, holder, token);
        }
        catch (Exception e)
        {
            await LeaveAsync(key, Participant).ConfigureAwait(false);
            if (e is OperationCanceledException && limit.IsCancellationRequested && !ct.IsCancellationRequested)
                throw new LockTimeoutException(key, clock.Elapsed, (await InspectAsync(key, CancellationToken.None).ConfigureAwait(false)).Holders);
            throw;
        }
    }

    /// <summary>Inside the critical section: nobody else reads or writes the fence now.</summary>
    private async Task<long> NextFenceAsync(LockKey key, CancellationToken ct)
    {
        var current = (await RunAsync("SELECT fence FROM {ks}.bakery_fences WHERE key = ?", ct, key.Value).ConfigureAwait(false)).FirstOrDefault()?.Get<long?>(0) ?? 0;
        await RunAsync("UPDATE {ks}.bakery_fences SET fence = ? WHERE key = ?", ct, current + 1, key.Value).ConfigureAwait(false);
        return current + 1;
    }

    private async Task LeaveAsync(LockKey key, int participant)
    {
        await SetNumberAsync(key, participant, 0, null, CancellationToken.None).ConfigureAwait(false);
        await SetChoosingAsync(key, participant, false, CancellationToken.None).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var keys = (await RunAsync("SELECT DISTINCT key FROM {ks}.bakery_numbers", ct).ConfigureAwait(false)).Select(r => r.Get<string>(0)).Order(StringComparer.Ordinal).ToList();
        foreach (var text in keys)
        {
            LockKey key;
            try
            {
                key = LockKey.Parse(text);
            }
            catch (FormatException)
            {
                continue;
            }
            if (!key.StartsWith(keyPrefix)) continue;
            var info = await InspectAsync(key, ct).ConfigureAwait(false);
            if (info.Holders.Count + info.Waiters.Count > 0) yield return info;
        }
    }

    /// <summary>Participants holding a number; the smallest (number, index) is shown as the holder (it may still be checking the others).</summary>
    public async ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default)
    {
        var taken = (await NumbersAsync(key, ct).ConfigureAwait(false)).Where(n => n.Number != 0).OrderBy(n => n.Number).ThenBy(n => n.Participant)
            .Select(n => new LockParticipant(n.Participant.ToString(CultureInfo.InvariantCulture), LockMode.Write, HolderRecord.Parse(n.Holder), 0)).ToList();
        return new LockInfo(key, taken.Take(1).ToList(), taken.Skip(1).ToList());
    }

    /// <summary>Clears a participant's number and choosing flag (for a participant that died holding them). The id is the participant index.</summary>
    public async ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default)
    {
        if (!int.TryParse(participantId, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= Participants)
            throw new ArgumentException($"'{participantId}' is not a participant index (0..{Participants - 1}).", nameof(participantId));
        var had = (await NumbersAsync(key, ct).ConfigureAwait(false)).Any(n => n.Participant == index && n.Number != 0);
        await LeaveAsync(key, index).ConfigureAwait(false);
        return had;
    }

    /// <summary>The lease that reserves <see cref="Participant"/> for this client (see <see cref="ClaimAsync"/>), released on dispose.</summary>
    private ILockHandle? _slot;
    private LwtLeaseLockProvider? _slotLeases;

    /// <summary>
    /// A participant index no other live client uses: each index is reserved by an LWT lease
    /// (<c>bakery-participant/N</c>, renewed while this client lives, gone when it dies), so two clients can never both
    /// be participant N. With <paramref name="participant"/> that index is reserved or the claim fails naming its holder.
    /// </summary>
    /// <exception cref="LockTimeoutException">Every index (or the one asked for) is reserved by a live client.</exception>
    public static async Task<BakeryLockProvider> ClaimAsync(CqlSession session, string keyspace, int participants, int? participant = null, Consistency consistency = Consistency.Quorum, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentOutOfRangeException.ThrowIfLessThan(participants, 1);
        await EnsureSchemaAsync(session, keyspace, ct).ConfigureAwait(false);
        await LwtLeaseLockProvider.EnsureSchemaAsync(session, keyspace, ct).ConfigureAwait(false);
        var leases = new LwtLeaseLockProvider(session, keyspace, new LwtLeaseOptions { Consistency = consistency });
        LockTimeoutException? last = null;
        foreach (var index in participant is { } wanted ? [wanted] : Enumerable.Range(0, participants))
        {
            try
            {
                var slot = await leases.AcquireAsync(new LockRequest(LockKey.ForBakeryParticipant(index), LockMode.Write)
                {
                    Purpose = $"bakery participant {index} of {participants}",
                    Timeout = TimeSpan.Zero,
                }, ct).ConfigureAwait(false);
                return new BakeryLockProvider(session, keyspace, index, participants) { _slot = slot, _slotLeases = leases, Consistency = consistency };
            }
            catch (LockTimeoutException e)
            {
                last = e;
            }
        }
        await leases.DisposeAsync().ConfigureAwait(false);
        throw new LockTimeoutException(last!.Key, last.Holders,
            participant is { } p
                ? $"Bakery participant {p} is in use by another live client: choose another index below {participants}, or leave it unset to take a free one."
                : $"All {participants} bakery participants are in use by live clients: raise the participant count (every client must use the same count) or use ZooKeeper or lwt locks.");
    }

    public async ValueTask DisposeAsync()
    {
        if (_slot is not null) await _slot.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        if (_slotLeases is not null) await _slotLeases.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Backoff(TimeSpan max)
    {
        private TimeSpan _next = TimeSpan.FromMilliseconds(2);

        public async Task WaitAsync(CancellationToken ct)
        {
            await Task.Delay(_next * (0.5 + Random.Shared.NextDouble()), ct).ConfigureAwait(false);
            _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, max.Ticks));
        }
    }

    private sealed class BakeryHandle(BakeryLockProvider provider, LockRequest request, LockHolder holder, long token) : ILockHandle
    {
        private int _released;

        public LockKey Key { get; } = request.Key;
        public LockMode Mode { get; } = request.Mode;
        public long FencingToken { get; } = token;
        public LockHolder Holder { get; } = holder;
        public LockState State => Volatile.Read(ref _released) == 0 ? LockState.Held : LockState.Released;
        public event EventHandler<LockState>? StateChanged;
        public CancellationToken LostToken => CancellationToken.None;

        public async ValueTask ReleaseAsync(CancellationToken ct = default)
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            await provider.SetNumberAsync(Key, provider.Participant, 0, null, CancellationToken.None).ConfigureAwait(false);
            StateChanged?.Invoke(this, LockState.Released);
        }

        public ValueTask DisposeAsync() => ReleaseAsync();
    }
}
