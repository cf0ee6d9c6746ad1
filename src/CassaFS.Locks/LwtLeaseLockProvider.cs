using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using CassaFS.Cql;

namespace CassaFS.Locks;

/// <summary>Settings of an <see cref="LwtLeaseLockProvider"/>.</summary>
public sealed record LwtLeaseOptions
{
    /// <summary>How long a lease lives without renewal (the row's TTL); renewed every third of it.</summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest pause between two attempts while the lease is held by someone else.</summary>
    public TimeSpan MaxPoll { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Who holds, as operators see it (default: host and pid).</summary>
    public string? Owner { get; init; }

    /// <summary>The commit consistency of the lease's lightweight transactions (its Paxos rounds are SERIAL), and of listings.</summary>
    public Consistency Consistency { get; init; } = Consistency.Quorum;
}

/// <summary>
/// Exclusive leases on Cassandra lightweight transactions, for installations without ZooKeeper. A lease is a row
/// written <c>IF NOT EXISTS USING TTL</c>; its holder renews it every third of the TTL (<c>IF owner = ?</c>).
/// <list type="bullet">
/// <item>Exclusive only: a <see cref="LockMode.Read"/> request takes the lease exclusively (readers do not share).</item>
/// <item>Not fair: waiters poll with jittered backoff (no queue); there are no waiters to list.</item>
/// <item>Renewal failing (Cassandra unreachable, timeouts) makes the holder <see cref="LockState.Suspended"/>; once a whole
/// lease time has passed since the last renewal sent that succeeded, or a renewal finds the row gone or owned by another,
/// it is <see cref="LockState.Lost"/>. An expired lease is simply taken by the next INSERT IF NOT EXISTS.</item>
/// <item>An LWT whose outcome is unknown (client timeout, WriteTimeout of a CAS, a connection lost after sending) is
/// settled by reading the row at SERIAL: we own it or we do not.</item>
/// <item>Fencing: after winning the lease, the holder increments a per-key counter by CAS
/// (<c>UPDATE lock_fences SET fence = ? WHERE key = ? IF fence = ?</c>; the column is not called token, a CQL keyword), then confirms the lease still names it
/// (recording the token in the lease): a later grant therefore always carries a larger token.</item>
/// </list>
/// </summary>
public sealed class LwtLeaseLockProvider : ILockProvider
{
    public const string LeaseTable = "lock_leases";
    public const string FenceTable = "lock_fences";

    private readonly ILeaseStatements _cql;
    private readonly string _ks;
    private readonly LwtLeaseOptions _options;
    private readonly ConcurrentDictionary<LockKey, long> _fenceGuess = new();

    public LwtLeaseLockProvider(CqlSession session, string keyspace, LwtLeaseOptions? options = null)
        : this(new SessionStatements(session ?? throw new ArgumentNullException(nameof(session))), keyspace, options)
    {
    }

    /// <summary>Leases whose CQL goes through <paramref name="cql"/> (a session's, or a wrapper of it).</summary>
    internal LwtLeaseLockProvider(ILeaseStatements cql, string keyspace, LwtLeaseOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cql);
        _cql = cql;
        _ks = CqlIdentifier.Keyspace(keyspace);
        _options = options ?? new LwtLeaseOptions();
        if (_options.LeaseTime < TimeSpan.FromSeconds(2)) throw new ArgumentException("The lease time must be at least two seconds (the TTL is in whole seconds and expires up to one second early).", nameof(options));
        Owner = _options.Owner ?? $"{Environment.MachineName}:{Environment.ProcessId}";
    }

    public string Name => "lwt";

    public string Owner { get; }

    internal int TtlSeconds => (int)Math.Ceiling(_options.LeaseTime.TotalSeconds);

    /// <summary>
    /// How long after sending a renewal that applied the holder may count on its lease: Cassandra computes a TTL's
    /// expiry in whole seconds, so a lease can end up to a second before its TTL; that second is not counted.
    /// </summary>
    private long SureTicks => (long)((TtlSeconds - 1) * (double)Stopwatch.Frequency);

    /// <summary>Creates the lease and fence tables in <paramref name="keyspace"/> (which must exist) if missing.</summary>
    public static async Task EnsureSchemaAsync(CqlSession session, string keyspace, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var ks = CqlIdentifier.Keyspace(keyspace);
        await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE IF NOT EXISTS {ks}.{LeaseTable} (key text PRIMARY KEY, owner text, holder text, fence bigint)"), ct).ConfigureAwait(false);
        await session.ExecuteAsync(new SimpleStatement($"CREATE TABLE IF NOT EXISTS {ks}.{FenceTable} (key text PRIMARY KEY, fence bigint)"), ct).ConfigureAwait(false);
    }

    private Task<PreparedStatement> Prepare(string cql, CancellationToken ct) => _cql.PrepareAsync(cql.Replace("{ks}", _ks, StringComparison.Ordinal), ct);

    /// <summary>A lightweight transaction at the lease's consistency (the session's default is never relied on).</summary>
    private Task<LwtResult> ConditionalAsync(Statement statement, CancellationToken ct) =>
        _cql.ExecuteConditionalAsync(statement.WithConsistency(_options.Consistency).WithSerialConsistency(Consistency.Serial), ct);

    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var owner = Guid.NewGuid().ToString("N");
        var holder = LockHolder.ForThisProcess(request, Owner);
        var record = HolderRecord.SerializeText(holder);
        var pause = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var sent = Stopwatch.GetTimestamp();
            try
            {
                if (await TryTakeLeaseAsync(request.Key, owner, record, ct).ConfigureAwait(false))
                {
                    var token = await NextFenceAsync(request.Key, ct).ConfigureAwait(false);
                    if (await RenewAsync(request.Key, owner, record, token, ct).ConfigureAwait(false))
                        return new LwtLease(this, request, holder, owner, record, token, sent);
                    continue; // lost between winning and fencing (a stall longer than the lease): start over
                }
            }
            catch (Exception e) when (CqlIdentifier.IsTransient(e) && !ct.IsCancellationRequested)
            {
                // Cassandra busy or unreachable: keep trying until the timeout, as if the lease were held
            }
            catch (OperationCanceledException)
            {
                await GiveUpAsync(request.Key, owner).ConfigureAwait(false);
                throw;
            }
            if (request.Timeout is { } limit && clock.Elapsed >= limit)
            {
                await GiveUpAsync(request.Key, owner).ConfigureAwait(false);
                var info = await InspectAsync(request.Key, CancellationToken.None).ConfigureAwait(false);
                throw new LockTimeoutException(request.Key, clock.Elapsed, info.Holders);
            }
            var wait = pause * (0.5 + Random.Shared.NextDouble());
            if (request.Timeout is { } l && l - clock.Elapsed < wait) wait = l - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, _options.MaxPoll.Ticks));
        }
    }

    /// <summary>An attempt that gave up may have won the lease in an unknown-outcome write: release it if so.</summary>
    private async Task GiveUpAsync(LockKey key, string owner)
    {
        try
        {
            await DeleteLeaseAsync(key, owner, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (CqlIdentifier.IsTransient(e))
        {
            // it expires by its TTL
        }
    }

    private async Task<bool> TryTakeLeaseAsync(LockKey key, string owner, string record, CancellationToken ct)
    {
        var insert = await Prepare("INSERT INTO {ks}.lock_leases (key, owner, holder, fence) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?", ct).ConfigureAwait(false);
        try
        {
            var result = await ConditionalAsync(insert.Bind(key.Value, owner, record, 0L, TtlSeconds), ct).ConfigureAwait(false);
            // Not applied but ours: an earlier attempt of this acquire won it before failing to fence or confirm.
            return result.Applied || result.Current?.Get<string?>("owner") == owner;
        }
        catch (Exception e) when (CqlIdentifier.IsUnknownOutcome(e))
        {
            return await OwnsAsync(key, owner, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Renews (and confirms) the lease: true while the row still names us.</summary>
    internal async Task<bool> RenewAsync(LockKey key, string owner, string record, long token, CancellationToken ct)
    {
        var renew = await Prepare("UPDATE {ks}.lock_leases USING TTL ? SET owner = ?, holder = ?, fence = ? WHERE key = ? IF owner = ?", ct).ConfigureAwait(false);
        try
        {
            return (await ConditionalAsync(renew.Bind(TtlSeconds, owner, record, token, key.Value, owner), ct).ConfigureAwait(false)).Applied;
        }
        catch (Exception e) when (CqlIdentifier.IsUnknownOutcome(e))
        {
            // If the row still names us the renewal may or may not have applied; the caller's clock stays at the last sure one.
            if (!await OwnsAsync(key, owner, ct).ConfigureAwait(false)) return false;
            throw;
        }
    }

    internal async Task<bool> DeleteLeaseAsync(LockKey key, string owner, CancellationToken ct)
    {
        var delete = await Prepare("DELETE FROM {ks}.lock_leases WHERE key = ? IF owner = ?", ct).ConfigureAwait(false);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return (await ConditionalAsync(delete.Bind(key.Value, owner), ct).ConfigureAwait(false)).Applied;
            }
            catch (Exception e) when (CqlIdentifier.IsUnknownOutcome(e) && attempt < 5)
            {
                // Retried until confirmed; after that the lease ends by its TTL.
                if (!await OwnsAsync(key, owner, ct).ConfigureAwait(false)) return true;
            }
        }
    }

    private async Task<bool> OwnsAsync(LockKey key, string owner, CancellationToken ct) =>
        (await ReadLeaseAsync(key, ct).ConfigureAwait(false))?.Owner == owner;

    private sealed record LeaseRow(string Owner, LockHolder Holder, long Token);

    private async Task<LeaseRow?> ReadLeaseAsync(LockKey key, CancellationToken ct)
    {
        var select = await Prepare("SELECT owner, holder, fence FROM {ks}.lock_leases WHERE key = ?", ct).ConfigureAwait(false);
        var rows = await _cql.ExecuteAsync(select.Bind(key.Value).WithConsistency(Consistency.Serial), ct).ConfigureAwait(false);
        return rows.FirstOrDefault() is { } row && row.Get<string?>(0) is { } owner
            ? new LeaseRow(owner, HolderRecord.Parse(row.Get<string?>(1)), row.Get<long?>(2) ?? 0)
            : null;
    }

    /// <summary>The next fencing token of <paramref name="key"/>, by compare-and-set on its counter row.</summary>
    private async Task<long> NextFenceAsync(LockKey key, CancellationToken ct)
    {
        var create = await Prepare("INSERT INTO {ks}.lock_fences (key, fence) VALUES (?, ?) IF NOT EXISTS", ct).ConfigureAwait(false);
        var bump = await Prepare("UPDATE {ks}.lock_fences SET fence = ? WHERE key = ? IF fence = ?", ct).ConfigureAwait(false);
        var current = _fenceGuess.GetValueOrDefault(key);
        while (true)
        {
            var next = current + 1;
            LwtResult result;
            try
            {
                result = await ConditionalAsync(current == 0 ? create.Bind(key.Value, next) : bump.Bind(next, key.Value, current), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (CqlIdentifier.IsUnknownOutcome(e))
            {
                current = await ReadFenceAsync(key, ct).ConfigureAwait(false);
                if (current == next) break; // only the lease holder bumps it: this was ours
                continue;
            }
            if (result.Applied) break;
            current = result.Current?.Get<long?>("fence") ?? await ReadFenceAsync(key, ct).ConfigureAwait(false);
        }
        _fenceGuess[key] = current + 1;
        return current + 1;
    }

    private async Task<long> ReadFenceAsync(LockKey key, CancellationToken ct)
    {
        var select = await Prepare("SELECT fence FROM {ks}.lock_fences WHERE key = ?", ct).ConfigureAwait(false);
        var rows = await _cql.ExecuteAsync(select.Bind(key.Value).WithConsistency(Consistency.Serial), ct).ConfigureAwait(false);
        return rows.FirstOrDefault()?.Get<long?>(0) ?? 0;
    }

    public async IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var select = await Prepare("SELECT key, owner, holder, fence FROM {ks}.lock_leases", ct).ConfigureAwait(false);
        await foreach (var row in _cql.QueryAsync(select.Bind().WithConsistency(_options.Consistency), 500, ct).ConfigureAwait(false))
        {
            LockKey key;
            try
            {
                key = LockKey.Parse(row.Get<string>(0));
            }
            catch (FormatException)
            {
                continue;
            }
            if (!key.StartsWith(keyPrefix) || row.Get<string?>(1) is not { } owner) continue;
            yield return new LockInfo(key, new[] { new LockParticipant(owner, LockMode.Write, HolderRecord.Parse(row.Get<string?>(2)), row.Get<long?>(3) ?? 0) },
                Array.Empty<LockParticipant>());
        }
    }

    /// <summary>The lease's holder (its participant id is the lease's owner id); waiters are not recorded (they poll).</summary>
    public async ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default)
    {
        var row = await ReadLeaseAsync(key, ct).ConfigureAwait(false);
        return new LockInfo(key,
            row is null ? Array.Empty<LockParticipant>() : new[] { new LockParticipant(row.Owner, LockMode.Write, row.Holder, row.Token) },
            Array.Empty<LockParticipant>());
    }

    /// <summary>Deletes the lease if it is still the given owner's; the holder learns Lost at its next renewal. No record of the break is kept.</summary>
    public async ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(participantId);
        return await DeleteLeaseAsync(key, participantId, ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A held lease and its renewal loop.</summary>
    private sealed class LwtLease : ILockHandle
    {
        private readonly LwtLeaseLockProvider _provider;
        private readonly string _owner;
        private readonly string _record;
        private readonly CancellationTokenSource _lost = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;
        private int _state = (int)LockState.Held;
        private long _sureUntil;

        public LwtLease(LwtLeaseLockProvider provider, LockRequest request, LockHolder holder, string owner, string record, long token, long sentTimestamp)
        {
            _provider = provider;
            _owner = owner;
            _record = record;
            Key = request.Key;
            Mode = request.Mode;
            Holder = holder;
            FencingToken = token;
            _sureUntil = sentTimestamp + provider.SureTicks;
            _renewal = Task.Run(RenewLoopAsync);
        }

        public LockKey Key { get; }
        public LockMode Mode { get; }
        public long FencingToken { get; }
        public LockHolder Holder { get; }
        public LockState State => (LockState)Volatile.Read(ref _state);
        public event EventHandler<LockState>? StateChanged;
        public CancellationToken LostToken => _lost.Token;

        private async Task RenewLoopAsync()
        {
            var period = _provider._options.LeaseTime / 3;
            var ct = _stop.Token;
            try
            {
                while (true)
                {
                    var wait = State == LockState.Suspended ? TimeSpan.FromMilliseconds(Math.Min(250, period.TotalMilliseconds)) : period;
                    await Task.Delay(wait, ct).ConfigureAwait(false);
                    var sent = Stopwatch.GetTimestamp();
                    try
                    {
                        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        // Give the renewal until the lease is no longer sure (at least a period): a slow answer is still an answer.
                        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Volatile.Read(ref _sureUntil));
                        bounded.CancelAfter(left > period ? left : period);
                        if (!await _provider.RenewAsync(Key, _owner, _record, FencingToken, bounded.Token).ConfigureAwait(false))
                        {
                            Lose();
                            return;
                        }
                        Volatile.Write(ref _sureUntil, sent + _provider.SureTicks);
                        Move(LockState.Suspended, LockState.Held);
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested && (CqlIdentifier.IsTransient(e) || e is OperationCanceledException))
                    {
                        if (Stopwatch.GetTimestamp() >= Volatile.Read(ref _sureUntil))
                        {
                            Lose();
                            return;
                        }
                        Move(LockState.Held, LockState.Suspended);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // released
            }
        }

        private void Move(LockState from, LockState to)
        {
            if (Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from) StateChanged?.Invoke(this, to);
        }

        private void Lose()
        {
            var previous = Interlocked.Exchange(ref _state, (int)LockState.Lost);
            if (previous is (int)LockState.Lost or (int)LockState.Released)
            {
                if (previous == (int)LockState.Released) Volatile.Write(ref _state, previous);
                return;
            }
            StateChanged?.Invoke(this, LockState.Lost);
            _lost.Cancel();
        }

        public async ValueTask ReleaseAsync(CancellationToken ct = default)
        {
            if (State == LockState.Released) return;
            await _stop.CancelAsync().ConfigureAwait(false);
            await _renewal.ConfigureAwait(false);
            try
            {
                if (!await _provider.DeleteLeaseAsync(Key, _owner, ct).ConfigureAwait(false)) Lose();
            }
            catch (Exception e) when (CqlIdentifier.IsTransient(e))
            {
                // Cassandra did not confirm: with renewal stopped, the lease ends by its TTL at the latest.
            }
            var previous = Interlocked.Exchange(ref _state, (int)LockState.Released);
            if (previous != (int)LockState.Released) StateChanged?.Invoke(this, LockState.Released);
        }

        public ValueTask DisposeAsync() => ReleaseAsync();
    }
}
