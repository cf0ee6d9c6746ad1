using System.Diagnostics;
using System.Globalization;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks;

/// <summary>
/// The ZooKeeper read/write lock recipe (after kazoo's <c>recipe/lock.py</c>): one grant or wait = one
/// EPHEMERAL_SEQUENTIAL child of <c>/locks/{key.NodeName}</c>.
/// <para><b>How it fails.</b></para>
/// <list type="bullet">
/// <item>Connection <b>Suspended</b> (the client lost its server but the session may live): every holder is told
/// its lock may be lost, <see cref="State"/> = <see cref="LockState.Suspended"/>. Stop changing what the lock
/// guards. On Reconnected the holder checks that its node still exists and belongs to this session, then goes back
/// to <see cref="LockState.Held"/> (or to Lost). Waiters keep their place; their watch is restored by the client.</item>
/// <item>Session <b>Lost</b> (expired, or no server heard for a whole session timeout): the node is gone or going, so
/// <see cref="State"/> = <see cref="LockState.Lost"/> and <see cref="LostToken"/> is cancelled; a waiter's
/// acquire fails with the client's <see cref="SessionExpiredException"/>.</item>
/// <item><b>Broken</b> by an operator: the node's data is rewritten with BrokenBy (so the record is in ZooKeeper's
/// log and readable until the delete), then the node is deleted; the holder's own-node watch reports Lost with that reason.</item>
/// <item>A <b>create whose reply was lost</b> (ConnectionLoss: applied or not, unknown) is resolved by listing the
/// children for this attempt's GUID: found = ours, adopted; not found = created again. A node of ours that turns up
/// later (the create was applied after all) is deleted as soon as it is seen, so none is left behind.</item>
/// <item>Every <b>unsure answer</b> goes through one policy, <see cref="ZooKeeperRetry"/>: reads are asked again,
/// deletes repeated (NoNode = done), the create settled by GUID as above; a watch that could not be set is set by the
/// next listing or the Reconnected check.</item>
/// <item><b>Giving up</b> (timeout, cancellation, any error while waiting) deletes our node, retried until confirmed
/// or the session is gone; a timeout throws <see cref="LockTimeoutException"/> naming the holders from their node data.</item>
/// </list>
/// <para>Lowest sequence holds. A writer waits for its immediate predecessor (any mode); a reader waits only for the
/// nearest preceding writer. Each waiter watches that one node only, so a release wakes one waiter, never the herd.
/// The fencing token is the node's czxid: zxids increase across the whole ensemble, so a later grant always carries a
/// larger token, whatever happened to the parent in between.</para>
/// <para><b>Byte ranges</b> (<see cref="LockQueue"/>): a range node's name also carries its client's group, its range
/// and its rank (its place in line). A node waits for the nearest node ahead of it, of another group, whose range
/// overlaps its own and one of the two is a write; the whole-file recipe above is the case where every range is the
/// whole file and every node its own group. A split keeps the grant's place: the pieces are created with the grant's
/// rank before the grant's node is deleted, so a waiter behind the grant finds them ahead of it.</para>
/// </summary>
internal sealed class ZooKeeperLock : ILockHandle, IRangeLockHandle
{
    private readonly ZooKeeperLockProvider _provider;
    private readonly ZooKeeperClient _client;
    private readonly IZooKeeperNodes _nodes;
    private readonly string _parent;
    private readonly string _guidPrefix;
    private readonly byte[] _data;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _lost = new();
    private CancellationTokenSource? _contended;
    private int _ownNodeGone;
    private TaskCompletionSource? _waiting;
    private string? _ownName;
    private LockState _state = LockState.Held;
    private bool _granted;
    private bool _releasing;
    private readonly RangeSpec? _range;

    /// <summary>A range node's group (its client), range, and the rank it inherits from the grant it was split from (null: its own sequence).</summary>
    internal sealed record RangeSpec(string Group, ByteRange Range, int? InheritedRank);

    public ZooKeeperLock(ZooKeeperLockProvider provider, LockRequest request, LockHolder holder)
        : this(provider, request.Key, request.Mode, holder, null)
    {
        _fresh = request.Fresh;
    }

    /// <summary>Asked for as <see cref="LockRequest.Fresh"/>.</summary>
    private readonly bool _fresh;

    public ZooKeeperLock(ZooKeeperLockProvider provider, LockKey key, LockMode mode, LockHolder holder, RangeSpec? range)
    {
        _provider = provider;
        _client = provider.Client;
        _nodes = provider.Nodes;
        Key = key;
        Mode = mode;
        Holder = holder;
        _range = range;
        _parent = provider.ParentOf(key);
        _guidPrefix = Guid.NewGuid().ToString("N") + "-";
        _data = HolderRecord.Serialize(holder);
    }

    public LockKey Key { get; }
    public LockMode Mode { get; }

    /// <summary>The range locked (the whole file for a whole-key lock).</summary>
    public ByteRange Range => _range?.Range ?? ByteRange.WholeFile;

    /// <summary>The place in line: the node's own sequence, or for a piece of a split the rank of the grant it came from.</summary>
    internal int Rank { get; private set; }
    public long FencingToken { get; private set; }
    public LockHolder Holder { get; }

    public LockState State
    {
        get
        {
            lock (_gate) return _state;
        }
    }

    public event EventHandler<LockState>? StateChanged;

    public CancellationToken LostToken => _lost.Token;

    /// <summary>Cancelled when a node behind ours in the queue is one ours blocks; the first read starts the watch.</summary>
    public CancellationToken ContendedToken
    {
        get
        {
            lock (_gate)
            {
                if (_contended is not null) return _contended.Token;
                _contended = new CancellationTokenSource();
                if (_granted && !_releasing && _state is LockState.Held or LockState.Suspended) _ = WatchForContendersAsync(_contended);
                else _contended.Cancel();
                return _contended.Token;
            }
        }
    }

    /// <summary>Our node's name under the lock's parent, once created.</summary>
    internal string? OwnNodeName => Volatile.Read(ref _ownName);

    private string OwnPath => $"{_parent}/{_ownName}";

    private string NamePrefix => _guidPrefix + (Mode == LockMode.Write ? "write-" : "read-") + (_range is { } r ? LockQueue.RangeSuffix(r) : "");

    /// <summary>
    /// Runs the recipe until granted; on timeout, cancellation or failure removes our node before throwing. A piece
    /// of a split (<paramref name="alreadyGranted"/>) is held once its node exists: its grant's place guards it.
    /// </summary>
    internal async Task AcquireAsync(TimeSpan? timeout, CancellationToken ct, bool alreadyGranted = false)
    {
        var clock = Stopwatch.StartNew();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t) limit.CancelAfter(t);
        try
        {
            var first = _fresh && !alreadyGranted ? await CreateFirstNode(limit.Token).ConfigureAwait(false) : FreshOutcome.NotMade;
            if (first == FreshOutcome.Granted)
            {
                Grant();
                return;
            }
            if (first == FreshOutcome.NotMade) await CreateOwnNode(limit.Token).ConfigureAwait(false);
            if (alreadyGranted)
            {
                await WatchOwnNode(limit.Token).ConfigureAwait(false);
                Grant();
                return;
            }
            // The own-node watch travels with the first listing (pipelined): it costs no extra round trip.
            var watchOwn = WatchOwnNode(limit.Token);
            var firstListing = FindBlocker(limit.Token);
            await Task.WhenAll(watchOwn, firstListing).ConfigureAwait(false);
            var blocker = await firstListing.ConfigureAwait(false);
            while (blocker is not null)
            {
                await WatchPredecessor(blocker, limit.Token).ConfigureAwait(false);
                blocker = await FindBlocker(limit.Token).ConfigureAwait(false);
            }
            Grant();
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            await GiveUp().ConfigureAwait(false);
            throw new LockTimeoutException(Key, clock.Elapsed, await HoldersForTimeout().ConfigureAwait(false));
        }
        catch
        {
            await GiveUp().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Creates our EPHEMERAL_SEQUENTIAL node exactly once, recreating the parent if it was pruned meanwhile. A create
    /// with an unsure answer is settled by <see cref="FindOwnNode"/> before it is tried again.
    /// </summary>
    private Task CreateOwnNode(CancellationToken ct) =>
        ZooKeeperRetry.UntilSureAsync(async token =>
        {
            while (true)
            {
                try
                {
                    var (path, stat) = await _nodes.CreateAsync(_parent + "/" + NamePrefix, _data, CreateMode.EphemeralSequential, token).ConfigureAwait(false);
                    Adopt(path[(path.LastIndexOf('/') + 1)..], stat.CreatedZxid);
                    return;
                }
                catch (NoNodeException)
                {
                    await EnsureParent(token).ConfigureAwait(false);
                }
            }
        }, ct, settled: FindOwnNode);

    private enum FreshOutcome { NotMade, Made, Granted }

    /// <summary>
    /// A lock on a key nobody can have asked for yet (<see cref="LockRequest.Fresh"/>): its parent and our node are
    /// made in one transaction, so ours is the first in the queue and is granted without listing it (one write, not
    /// the failed create, the parent's create and the listing of the usual recipe). The own-node read that sets its
    /// watch reads the fencing token. NotMade when the parent was there (the key was used after all) or the answer
    /// was unsure and no node of ours is found: the usual recipe runs; Made when an unsure answer did make ours (the
    /// usual listing then decides).
    /// </summary>
    private async Task<FreshOutcome> CreateFirstNode(CancellationToken ct)
    {
        string? path;
        try
        {
            path = await _nodes.CreateWithParentAsync(_parent, _parent + "/" + NamePrefix, _data, ct).ConfigureAwait(false);
        }
        catch (ZooKeeperException e) when (ZooKeeperRetry.IsUnsure(e))
        {
            return await FindOwnNode(ct).ConfigureAwait(false) ? FreshOutcome.Made : FreshOutcome.NotMade;
        }
        if (path is null) return FreshOutcome.NotMade;
        var name = path[(path.LastIndexOf('/') + 1)..];
        Volatile.Write(ref _ownName, name); // for the watch's events, before the read that sets it
        Stat? stat = null;
        if (!await ZooKeeperRetry.OnceAsync(async t => stat = await _nodes.ExistsAsync(OwnPath, OnOwnNodeEvent, t).ConfigureAwait(false), ct).ConfigureAwait(false) || stat is null)
            return await FindOwnNode(ct).ConfigureAwait(false) ? FreshOutcome.Made : FreshOutcome.NotMade;
        Adopt(name, stat.CreatedZxid);
        return FreshOutcome.Granted;
    }

    /// <summary>After a ConnectionLoss on create: our node exists iff a child carries our GUID (ZOOKEEPER-1262).</summary>
    internal Task<bool> FindOwnNode(CancellationToken ct) =>
        // The listing is read-only: an unsure one is asked again on the next connection.
        ZooKeeperRetry.UntilSureAsync(async token =>
        {
            while (true)
            {
                IReadOnlyList<string> children;
                try
                {
                    children = await _nodes.GetChildrenAsync(_parent, token).ConfigureAwait(false);
                }
                catch (NoNodeException)
                {
                    return false;
                }
                var mine = children.Where(c => c.StartsWith(_guidPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
                if (mine is null) return false;
                var stat = await _nodes.ExistsAsync($"{_parent}/{mine}", null, token).ConfigureAwait(false);
                if (stat is null) continue;
                Adopt(mine, stat.CreatedZxid);
                return true;
            }
        }, ct);

    private void Adopt(string name, long czxid)
    {
        Volatile.Write(ref _ownName, name);
        FencingToken = czxid;
        Rank = _range?.InheritedRank ?? LockQueue.SequenceOf(name);
    }

    /// <summary>Creates the lock's parent (and the root) when a create found it missing: pruning may remove it at any time.</summary>
    private async Task EnsureParent(CancellationToken ct)
    {
        foreach (var path in new[] { _provider.Root, _parent })
        {
            try
            {
                // Once: after an unsure answer the next create finds out whether the parent is there.
                await ZooKeeperRetry.OnceAsync(t => _nodes.CreateAsync(path, ReadOnlyMemory<byte>.Empty, CreateMode.Persistent, t), ct).ConfigureAwait(false);
            }
            catch (NodeExistsException)
            {
                // someone else made it, or our earlier create did before its reply was lost
            }
        }
    }

    /// <summary>Watches our own node, so a holder (or waiter) learns when an operator breaks it.</summary>
    private async Task WatchOwnNode(CancellationToken ct)
    {
        // Once: after an unsure answer the next listing finds our node gone if it is, and a holder verifies it on Reconnected.
        await ZooKeeperRetry.OnceAsync(async t =>
        {
            if (await _nodes.ExistsAsync(OwnPath, OnOwnNodeEvent, t).ConfigureAwait(false) is null) OnOwnNodeGone("its lock node no longer exists");
        }, ct).ConfigureAwait(false);
    }

    private void OnOwnNodeEvent(WatchedEvent e)
    {
        switch (e.Type)
        {
            case WatchEventType.NodeDeleted:
                OnOwnNodeGone("its lock node was deleted (broken by an operator)");
                break;
            case WatchEventType.NodeDataChanged:
                _ = ReadBreakRecord();
                break;
            case WatchEventType.None:
                OnOwnNodeGone($"the ZooKeeper session ended ({e.State})");
                break;
        }
    }

    /// <summary>An operator writes BrokenBy before deleting: read it (re-arming the watch) to report why.</summary>
    private async Task ReadBreakRecord()
    {
        try
        {
            var node = await _nodes.GetDataAsync(OwnPath, OnOwnNodeEvent, CancellationToken.None).ConfigureAwait(false);
            var record = HolderRecord.Parse(node.Data);
            if (record.BrokenBy is not null) OnOwnNodeGone($"broken by an operator: {record.BrokenBy}");
        }
        catch (NoNodeException)
        {
            OnOwnNodeGone("its lock node was deleted (broken by an operator)");
        }
#pragma warning disable CA1031 // A failed re-arm leaves the Reconnected check and the session state to report the loss.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void OnOwnNodeGone(string reason)
    {
        lock (_gate)
        {
            if (_releasing) return;
        }
        // Full fences on both sides (here and in WatchPredecessor): one of the two always sees the other's write.
        Interlocked.Exchange(ref _ownNodeGone, 1);
        Volatile.Read(ref _waiting)?.TrySetResult();
        MarkLost(reason);
    }

    /// <summary>Lists the queue and returns the node we must wait for, or null when the lock is ours.</summary>
    private async Task<string?> FindBlocker(CancellationToken ct)
    {
        var queue = LockQueue.Parse(await ZooKeeperRetry.UntilSureAsync(t => _nodes.GetChildrenAsync(_parent, t), ct).ConfigureAwait(false));
        var own = -1;
        for (var i = 0; i < queue.Count; i++)
        {
            if (queue[i].Name == _ownName) own = i;
            else if (queue[i].Name.StartsWith(_guidPrefix, StringComparison.Ordinal)) await DeleteOrphan(queue[i].Name).ConfigureAwait(false);
        }
        if (own < 0) throw new LockLostException(Key, "our lock node vanished while we waited (broken by an operator, or the session expired)");
        var blocker = LockQueue.Blocker(queue, own);
        return blocker?.Name;
    }

    /// <summary>A second node with our GUID: the create that we believed lost was applied late. It must not hold a place.</summary>
    private async Task DeleteOrphan(string name)
    {
        try
        {
            await _nodes.DeleteAsync($"{_parent}/{name}", -1, CancellationToken.None).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
        }
    }

    /// <summary>Waits until the one node ahead of us that blocks us is gone (or our own node is).</summary>
    private async Task WatchPredecessor(string predecessor, CancellationToken ct)
    {
        // One wake-up source: the predecessor's watch, or our own node going (set by OnOwnNodeGone).
        var gone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _waiting, gone);
        if (Volatile.Read(ref _ownNodeGone) == 1) return;
        try
        {
            // getData, not exists: a missing node must not leave an exist-watch behind. Once: after an unsure
            // answer the caller lists the queue again, which sets the watch anew.
            if (!await ZooKeeperRetry.OnceAsync(t => _nodes.GetDataAsync($"{_parent}/{predecessor}", _ => gone.TrySetResult(), t), ct).ConfigureAwait(false)) return;
        }
        catch (NoNodeException)
        {
            return;
        }
        await gone.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Lists the lock's queue with a watch on it, and again at each change, until a node behind ours turns up that
    /// ours blocks (a writer behind a reader, anyone behind a writer), or ours is let go or lost. Either way the
    /// holder is told it is wanted: a failure here (the session gone) must not leave a kept lock looking unwanted.
    /// </summary>
    private async Task WatchForContendersAsync(CancellationTokenSource contended)
    {
        try
        {
            while (true)
            {
                var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var children = await ZooKeeperRetry.UntilSureAsync(t => _nodes.WatchChildrenAsync(_parent, _ => changed.TrySetResult(), t), _lost.Token).ConfigureAwait(false);
                lock (_gate)
                {
                    if (_releasing || _state is LockState.Lost or LockState.Released) break;
                }
                var queue = LockQueue.Parse(children);
                var own = -1;
                for (var i = 0; i < queue.Count && own < 0; i++)
                    if (queue[i].Name == _ownName) own = i;
                if (own < 0 || LockQueue.IsWanted(queue, own)) break;
                await changed.Task.WaitAsync(_lost.Token).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // lost, cancelled, the client closed: all of them mean "let it go".
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        try
        {
            contended.Cancel();
        }
        catch (AggregateException)
        {
            // a ContendedToken callback threw; the token is cancelled regardless
        }
    }

    private void Grant()
    {
        lock (_gate)
        {
            _granted = true;
            if (_state == LockState.Lost) throw new LockLostException(Key, "our lock node went away as it was granted");
        }
        _provider.Track(this);
        // A connection that broke during the acquire is reported now that there is a holder to tell.
        if (_client.State == ConnectionState.Suspended) OnSuspended();
    }

    /// <summary>Gives up a wait: our node (found by GUID if its create's outcome was unknown) is deleted.</summary>
    private async Task GiveUp()
    {
        lock (_gate) _releasing = true;
        try
        {
            if (_ownName is null && !await FindOwnNode(CancellationToken.None).ConfigureAwait(false)) return;
            await DeleteOwnNode().ConfigureAwait(false);
        }
        catch (ZooKeeperException)
        {
            // session gone: its ephemeral node goes with it
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Deletes our node, retried across connection losses until confirmed or the session is gone.</summary>
    private Task DeleteOwnNode(CancellationToken ct = default) =>
        // After an unsure answer deleting again is harmless: NoNode means done.
        ZooKeeperRetry.UntilSureAsync(async t =>
        {
            try
            {
                await _nodes.DeleteAsync(OwnPath, -1, t).ConfigureAwait(false);
            }
            catch (NoNodeException)
            {
            }
            catch (SessionExpiredException)
            {
                // the session's ephemeral nodes go with it
            }
            catch (ObjectDisposedException)
            {
            }
        }, ct);

    public async ValueTask ReleaseAsync(CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (_releasing) return;
            _releasing = true;
        }
        _provider.Forget(this);
        await DeleteOwnNode(ct).ConfigureAwait(false);
        SetState(LockState.Released);
    }

    public ValueTask DisposeAsync() => ReleaseAsync();

    /// <summary>Creates the pieces with this grant's rank (held at once), then deletes this grant's node.</summary>
    public async ValueTask<IReadOnlyList<IRangeLockHandle>> SplitAsync(IReadOnlyList<(LockMode Mode, ByteRange Range)> pieces, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        if (_range is not { } spec) throw new InvalidOperationException($"{this} is not a byte-range lock.");
        WholeFileRangeLocks.Validate(this, pieces);
        // A lost grant has no place left to lend: pieces with its rank would jump a queue they are no longer in.
        if (State is LockState.Lost or LockState.Released) throw new LockLostException(Key, LostReason ?? "it was released");
        var made = new List<IRangeLockHandle>(pieces.Count);
        try
        {
            foreach (var (mode, range) in pieces)
            {
                var piece = new ZooKeeperLock(_provider, Key, mode, Holder, new RangeSpec(spec.Group, range, Rank));
                await piece.AcquireAsync(null, ct, alreadyGranted: true).ConfigureAwait(false);
                made.Add(piece);
            }
        }
        catch
        {
            foreach (var piece in made) await piece.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        await ReleaseAsync(ct).ConfigureAwait(false);
        return made;
    }

    internal void OnSuspended()
    {
        lock (_gate)
        {
            if (!_granted || _state != LockState.Held) return;
        }
        SetState(LockState.Suspended);
    }

    /// <summary>Back on a server in the same session: the node should still be ours; make sure before saying Held.</summary>
    internal async Task OnReconnected()
    {
        lock (_gate)
        {
            if (!_granted || _state is LockState.Lost or LockState.Released) return;
        }
        try
        {
            // Once: after an unsure answer the client is suspended again, and the next Reconnected checks again.
            await ZooKeeperRetry.OnceAsync(async t =>
            {
                var stat = await _nodes.ExistsAsync(OwnPath, OnOwnNodeEvent, t).ConfigureAwait(false);
                if (stat is not null && stat.EphemeralOwner == _client.SessionId) SetState(LockState.Held);
                else OnOwnNodeGone("its lock node was gone after reconnecting");
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ZooKeeperException e)
        {
            MarkLost(e.Message);
        }
        catch (ObjectDisposedException)
        {
            MarkLost("the ZooKeeper client was closed");
        }
    }

    internal void MarkLost(string reason)
    {
        lock (_gate)
        {
            if (_releasing || _state is LockState.Lost or LockState.Released) return;
        }
        _provider.Forget(this);
        SetState(LockState.Lost);
        LostReason = reason;
        try
        {
            _lost.Cancel();
        }
        catch (AggregateException)
        {
            // a LostToken callback threw; the state is Lost regardless
        }
    }

    /// <summary>Why the lock was lost (null while not lost).</summary>
    internal string? LostReason { get; private set; }

    private void SetState(LockState next)
    {
        lock (_gate)
        {
            if (_state == next || _state == LockState.Released || (_state == LockState.Lost && next != LockState.Released)) return;
            _state = next;
        }
        StateChanged?.Invoke(this, next);
    }

    private async Task<IReadOnlyList<LockParticipant>> HoldersForTimeout()
    {
        try
        {
            return (await _provider.InspectAsync(Key).ConfigureAwait(false)).Holders;
        }
        catch (ZooKeeperException)
        {
            return Array.Empty<LockParticipant>();
        }
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Mode} lock {Key} ({_ownName}, token {FencingToken}, {State})");
}

/// <summary>
/// The children of one lock's parent in queue order, and who blocks whom. A whole-key node is
/// <c>{guid}-{read|write}-{sequence}</c>; a range node <c>{guid}-{read|write}-{group}-{start}-{end}-{rank|n}-{sequence}</c>
/// (start and end in 16 hex digits, rank in 10 digits, <c>n</c> = its own sequence). A whole-key node is a range node
/// of the whole file in a group of its own.
/// </summary>
internal static class LockQueue
{
    private const int SequenceDigits = 10;

    internal sealed record Entry(string Name, LockMode Mode, int Sequence, string Group, ByteRange Range, int Rank)
    {
        public bool IsRange => Group != Name;

        public bool ConflictsWith(Entry other) =>
            Group != other.Group && Range.Overlaps(other.Range) && (Mode == LockMode.Write || other.Mode == LockMode.Write);
    }

    /// <summary>The part of a range node's name after its mode.</summary>
    public static string RangeSuffix(ZooKeeperLock.RangeSpec spec) =>
        string.Create(CultureInfo.InvariantCulture, $"{spec.Group}-{spec.Range.Start:x16}-{spec.Range.End:x16}-{(spec.InheritedRank is { } r ? r.ToString("D10", CultureInfo.InvariantCulture) : "n")}-");

    /// <summary>The sequence number ZooKeeper appended to a node's name.</summary>
    public static int SequenceOf(string name) =>
        int.Parse(name.AsSpan(name.Length - SequenceDigits), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>Our nodes in queue order (rank, then sequence); names of other shapes (not ours) are ignored.</summary>
    public static IReadOnlyList<Entry> Parse(IReadOnlyList<string> children)
    {
        var entries = new List<Entry>(children.Count);
        foreach (var name in children)
        {
            if (TryParse(name) is { } entry) entries.Add(entry);
        }
        entries.Sort((a, b) => a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.Sequence.CompareTo(b.Sequence));
        return entries;
    }

    private static Entry? TryParse(string name)
    {
        var parts = name.Split('-');
        if (parts.Length is not (3 or 7) || parts[^1].Length != SequenceDigits ||
            !int.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)) return null;
        LockMode mode;
        if (parts[1] == "write") mode = LockMode.Write;
        else if (parts[1] == "read") mode = LockMode.Read;
        else return null;
        if (parts.Length == 3) return new Entry(name, mode, seq, name, ByteRange.WholeFile, seq);
        if (!long.TryParse(parts[3], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start) ||
            !long.TryParse(parts[4], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end) ||
            start < 0 || end <= start) return null;
        int rank;
        if (parts[5] == "n") rank = seq;
        else if (!int.TryParse(parts[5], NumberStyles.None, CultureInfo.InvariantCulture, out rank)) return null;
        return new Entry(name, mode, seq, parts[2], new ByteRange(start, end), rank);
    }

    /// <summary>
    /// The nearest node ahead of <paramref name="own"/> that conflicts with it (null: it holds). For whole-key nodes:
    /// a writer waits for its immediate predecessor, a reader for the nearest writer ahead of it.
    /// </summary>
    public static Entry? Blocker(IReadOnlyList<Entry> queue, int own)
    {
        for (var i = own - 1; i >= 0; i--)
            if (queue[i].ConflictsWith(queue[own])) return queue[i];
        return null;
    }

    public static bool Holds(IReadOnlyList<Entry> queue, int index) => Blocker(queue, index) is null;

    /// <summary>Whether a node behind <paramref name="own"/> conflicts with it: it cannot be granted while <paramref name="own"/> is held.</summary>
    public static bool IsWanted(IReadOnlyList<Entry> queue, int own)
    {
        for (var i = own + 1; i < queue.Count; i++)
            if (queue[i].ConflictsWith(queue[own])) return true;
        return false;
    }
}
