using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using CassaFS.ZooKeeper;

namespace CassaFS.Locks;

/// <summary>
/// Read/write locks on ZooKeeper (the recipe is <see cref="ZooKeeperLock"/>): FIFO-fair, no herd, held by an
/// ephemeral node that dies with the session; fencing token = the node's czxid.
/// </summary>
public sealed class ZooKeeperLockProvider : ILockProvider, IRangeLocksFactory
{
    private readonly ConcurrentDictionary<ZooKeeperLock, byte> _held = new();

    /// <param name="client">The session the locks live in; the caller owns it (disposing the provider does not close it).</param>
    /// <param name="root">The parent of every lock's node (default <c>/locks</c>, relative to the client's chroot).</param>
    /// <param name="owner">Who holds, as operators see it (default: host, pid and session id).</param>
    public ZooKeeperLockProvider(ZooKeeperClient client, string root = "/locks", string? owner = null)
        : this(client, new ClientNodes(client ?? throw new ArgumentNullException(nameof(client))), root, owner)
    {
    }

    /// <summary>Locks whose ZooKeeper operations go through <paramref name="nodes"/> (the client's, or a wrapper of them).</summary>
    internal ZooKeeperLockProvider(ZooKeeperClient client, IZooKeeperNodes nodes, string root = "/locks", string? owner = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!root.StartsWith('/') || root.EndsWith('/')) throw new ArgumentException($"'{root}' is not a ZooKeeper path such as /locks.", nameof(root));
        Client = client;
        Nodes = nodes;
        Root = root;
        Owner = owner ?? $"{Environment.MachineName}:{Environment.ProcessId}:zk-0x{client.SessionId:x}";
        client.StateChanged += OnClientStateChanged;
    }

    public string Name => "zookeeper";

    public ZooKeeperClient Client { get; }

    /// <summary>The parent of every lock node.</summary>
    public string Root { get; }

    /// <summary>The owner recorded in every holder record this provider writes.</summary>
    public string Owner { get; }

    /// <summary>Every ZooKeeper operation of these locks (the client's own state and events come from <see cref="Client"/>).</summary>
    internal IZooKeeperNodes Nodes { get; }

    internal string ParentOf(LockKey key) => $"{Root}/{key.NodeName}";

    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var attempt = new ZooKeeperLock(this, request, LockHolder.ForThisProcess(request, Owner));
        await attempt.AcquireAsync(request.Timeout, ct).ConfigureAwait(false);
        return attempt;
    }

    public async IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        IReadOnlyList<string> parents;
        try
        {
            parents = await Nodes.GetChildrenAsync(Root, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            yield break;
        }
        foreach (var name in parents.Order(StringComparer.Ordinal))
        {
            LockKey key;
            try
            {
                key = LockKey.FromNodeName(name);
            }
            catch (FormatException)
            {
                continue; // not a lock of ours
            }
            if (!key.StartsWith(keyPrefix)) continue;
            var info = await InspectAsync(key, ct).ConfigureAwait(false);
            if (info.Holders.Count + info.Waiters.Count > 0) yield return info;
        }
    }

    public async ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default)
    {
        IReadOnlyList<LockQueue.Entry> queue;
        try
        {
            queue = LockQueue.Parse(await Nodes.GetChildrenAsync(ParentOf(key), ct).ConfigureAwait(false));
        }
        catch (NoNodeException)
        {
            return new LockInfo(key, Array.Empty<LockParticipant>(), Array.Empty<LockParticipant>());
        }
        var holders = new List<LockParticipant>();
        var waiters = new List<LockParticipant>();
        var reads = queue.Select(e => ReadParticipantAsync(key, e, ct)).ToList();
        for (var i = 0; i < queue.Count; i++)
        {
            if (await reads[i].ConfigureAwait(false) is not { } participant) continue;
            (LockQueue.Holds(queue, i) ? holders : waiters).Add(participant);
        }
        return new LockInfo(key, holders, waiters);
    }

    internal async Task<LockParticipant?> ReadParticipantAsync(LockKey key, LockQueue.Entry entry, CancellationToken ct)
    {
        try
        {
            var node = await Nodes.GetDataAsync($"{ParentOf(key)}/{entry.Name}", null, ct).ConfigureAwait(false);
            return new LockParticipant(entry.Name, entry.Mode, HolderRecord.Parse(node.Data), node.Stat.CreatedZxid) { Range = entry.IsRange ? entry.Range : null };
        }
        catch (NoNodeException)
        {
            return null; // released while we looked
        }
    }

    /// <summary>Writes BrokenBy into the holder's node (the holder and ZooKeeper's log see why), then deletes it.</summary>
    public async ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(participantId);
        if (participantId.Contains('/', StringComparison.Ordinal)) throw new ArgumentException($"'{participantId}' is not a lock node name.", nameof(participantId));
        var path = $"{ParentOf(key)}/{participantId}";
        try
        {
            var node = await Nodes.GetDataAsync(path, null, ct).ConfigureAwait(false);
            var record = HolderRecord.Parse(node.Data) with { BrokenBy = $"{Owner} at {DateTimeOffset.UtcNow:u}: {reason}" };
            var stat = await Nodes.SetDataAsync(path, HolderRecord.Serialize(record), node.Stat.Version, ct).ConfigureAwait(false);
            await Nodes.DeleteAsync(path, stat.Version, ct).ConfigureAwait(false);
            return true;
        }
        catch (NoNodeException)
        {
            return false;
        }
        catch (BadVersionException)
        {
            // someone else broke it between our read and write; make sure it is gone
            try
            {
                await Nodes.DeleteAsync(path, -1, ct).ConfigureAwait(false);
                return true;
            }
            catch (NoNodeException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Deletes lock parents that have no children (locks nobody holds or waits for). Safe while clients lock: a
    /// create that finds its parent gone recreates it. Returns how many were deleted.
    /// </summary>
    public async Task<int> PruneAsync(CancellationToken ct = default)
    {
        IReadOnlyList<string> parents;
        try
        {
            parents = await Nodes.GetChildrenAsync(Root, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            return 0;
        }
        var deleted = 0;
        foreach (var name in parents)
        {
            try
            {
                await Nodes.DeleteAsync($"{Root}/{name}", -1, ct).ConfigureAwait(false);
                deleted++;
            }
            catch (NotEmptyException)
            {
            }
            catch (NoNodeException)
            {
            }
        }
        return deleted;
    }

    /// <summary>A new client of byte-range locks (a mount): a group of its own, so its ranges never conflict with each other.</summary>
    public IRangeLockProvider NewRangeClient() => new RangeClient(this, Guid.NewGuid().ToString("N")[..12]);

    /// <summary>Byte-range locks of one group, on this provider's session (see <see cref="ZooKeeperLock"/> and <see cref="LockQueue"/>).</summary>
    private sealed class RangeClient(ZooKeeperLockProvider provider, string group) : IRangeLockProvider
    {
        public async ValueTask<IRangeLockHandle> AcquireRangeAsync(RangeLockRequest request, CancellationToken ct = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            var attempt = new ZooKeeperLock(provider, request.Key, request.Mode, LockHolder.ForThisProcess(request, provider.Owner), new ZooKeeperLock.RangeSpec(group, request.Range, null));
            await attempt.AcquireAsync(request.Timeout, ct).ConfigureAwait(false);
            return attempt;
        }

        public async ValueTask<RangeConflict?> FindRangeConflictAsync(LockKey key, LockMode mode, ByteRange range, CancellationToken ct = default)
        {
            IReadOnlyList<LockQueue.Entry> queue;
            try
            {
                queue = LockQueue.Parse(await provider.Nodes.GetChildrenAsync(provider.ParentOf(key), ct).ConfigureAwait(false));
            }
            catch (NoNodeException)
            {
                return null;
            }
            var probe = new LockQueue.Entry("", mode, 0, group, range, 0);
            var held = Enumerable.Range(0, queue.Count).Where(i => LockQueue.Holds(queue, i)).Select(i => queue[i]).ToList();
            // The one that starts first, as Linux's F_GETLK answers; released while we looked: the next one.
            foreach (var conflict in held.Where(e => e.ConflictsWith(probe)).OrderBy(e => e.Range.Start))
            {
                if (await provider.ReadParticipantAsync(key, conflict, ct).ConfigureAwait(false) is not { } holder) continue;
                return new RangeConflict(conflict.Mode, await CoalescedAsync(key, conflict, holder.Holder, held, ct).ConfigureAwait(false), holder.Holder);
            }
            return null;
        }

        /// <summary>The conflict widened over its holder's touching grants of the same mode (one lock to POSIX, several grants here).</summary>
        private async Task<ByteRange> CoalescedAsync(LockKey key, LockQueue.Entry found, LockHolder holder, List<LockQueue.Entry> held, CancellationToken ct)
        {
            var (start, end) = (found.Range.Start, found.Range.End);
            var candidates = held.Where(e => e != found && e.Group == found.Group && e.Mode == found.Mode).ToList();
            for (var grown = true; grown;)
            {
                grown = false;
                foreach (var e in candidates.ToList())
                {
                    if (e.Range.End < start || e.Range.Start > end) continue;
                    candidates.Remove(e);
                    if (await provider.ReadParticipantAsync(key, e, ct).ConfigureAwait(false) is not { } other || other.Holder.ForProcess != holder.ForProcess) continue;
                    (start, end) = (Math.Min(start, e.Range.Start), Math.Max(end, e.Range.End));
                    grown = true;
                }
            }
            return new ByteRange(start, end);
        }
    }

    internal void Track(ZooKeeperLock held) => _held.TryAdd(held, 0);

    internal void Forget(ZooKeeperLock held) => _held.TryRemove(held, out _);

    private void OnClientStateChanged(object? sender, ConnectionStateChangedEventArgs e)
    {
        foreach (var held in _held.Keys)
        {
            switch (e.State)
            {
                case ConnectionState.Suspended:
                    held.OnSuspended();
                    break;
                case ConnectionState.Reconnected:
                    _ = held.OnReconnected();
                    break;
                case ConnectionState.Lost:
                    held.MarkLost("the ZooKeeper session expired");
                    break;
                case ConnectionState.Closed:
                    held.MarkLost("the ZooKeeper client was closed");
                    break;
            }
        }
    }

    /// <summary>Stops following the client's state; held locks stay held until released or the session ends.</summary>
    public ValueTask DisposeAsync()
    {
        Client.StateChanged -= OnClientStateChanged;
        return ValueTask.CompletedTask;
    }
}
