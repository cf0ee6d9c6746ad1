using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>How the next requests of a kind lose their reply.</summary>
public enum LostReply
{
    /// <summary>The server applies the request, then the reply is lost.</summary>
    AfterApplied,
    /// <summary>The connection breaks before the server saw the request.</summary>
    BeforeApplied,
}

/// <summary>
/// A lock provider's ZooKeeper operations with the test in between (<see cref="IZooKeeperNodes"/>, on the real
/// server): it counts the provider's listings and the watches that woke it, and can lose the reply of its next
/// sequential creates or deletes the way a broken connection would, with a ConnectionLoss.
/// </summary>
internal sealed class InterposedNodes(IZooKeeperNodes inner) : IZooKeeperNodes
{
    private readonly Losses _creates = new();
    private readonly Losses _deletes = new();
    private int _listings;
    private int _wakeUps;
    private int _repliesLost;

    /// <summary>A provider whose every ZooKeeper operation goes through a new <see cref="InterposedNodes"/> on <paramref name="client"/>.</summary>
    public static (ZooKeeperLockProvider Provider, InterposedNodes Nodes) Provider(ZooKeeperClient client)
    {
        var nodes = new InterposedNodes(new ClientNodes(client));
        return (new ZooKeeperLockProvider(client, nodes), nodes);
    }

    /// <summary>How many times the provider listed a lock's children.</summary>
    public int Listings => Volatile.Read(ref _listings);

    /// <summary>How many watches the provider set with a read fired (a waiter's watch on its predecessor).</summary>
    public int WakeUps => Volatile.Read(ref _wakeUps);

    /// <summary>How many replies were lost so far.</summary>
    public int RepliesLost => Volatile.Read(ref _repliesLost);

    /// <summary>The node the last create lost after applied made (its name only), which the provider was never told.</summary>
    public string? LostNode { get; private set; }

    /// <summary>The next <paramref name="count"/> sequential creates end in ConnectionLoss, after or before the server applied them.</summary>
    public void LoseCreateReplies(LostReply how, int count = 1) => _creates.Set(how, count);

    /// <summary>The next <paramref name="count"/> deletes end in ConnectionLoss, after or before the server applied them.</summary>
    public void LoseDeleteReplies(LostReply how, int count = 1) => _deletes.Set(how, count);

    public async Task<(string Path, Stat Stat)> CreateAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode, CancellationToken ct)
    {
        if (mode != CreateMode.EphemeralSequential || !_creates.Pending) return await inner.CreateAsync(path, data, mode, ct);
        if (_creates.How == LostReply.AfterApplied)
        {
            var (created, _) = await inner.CreateAsync(path, data, mode, ct);
            LostNode = created[(created.LastIndexOf('/') + 1)..];
        }
        throw Lost(_creates, "create", path);
    }

    /// <summary>A lost reply here is one of the sequential creates' (the transaction makes the lock's node).</summary>
    public async Task<string?> CreateWithParentAsync(string parent, string childPrefix, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!_creates.Pending) return await inner.CreateWithParentAsync(parent, childPrefix, data, ct);
        if (_creates.How == LostReply.AfterApplied)
        {
            var created = await inner.CreateWithParentAsync(parent, childPrefix, data, ct);
            if (created is null) return null; // refused: answered as it would have been
            LostNode = created[(created.LastIndexOf('/') + 1)..];
        }
        throw Lost(_creates, "create", childPrefix);
    }

    public async Task DeleteAsync(string path, int version, CancellationToken ct)
    {
        if (!_deletes.Pending)
        {
            await inner.DeleteAsync(path, version, ct);
            return;
        }
        if (_deletes.How == LostReply.AfterApplied) await inner.DeleteAsync(path, version, ct);
        throw Lost(_deletes, "delete", path);
    }

    /// <summary>
    /// Only a request the server did apply loses its reply after applied (one refused, say a create under a missing
    /// parent, answers as it would have): the loss is counted once the request is through.
    /// </summary>
    private ConnectionLossException Lost(Losses losses, string operation, string path)
    {
        losses.Spend();
        Interlocked.Increment(ref _repliesLost);
        return new ConnectionLossException(path, $"{operation} {path}: the reply was lost ({losses.How}, by the test).", null);
    }

    public Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct)
    {
        Interlocked.Increment(ref _listings);
        return inner.GetChildrenAsync(path, ct);
    }

    public Task<IReadOnlyList<string>> WatchChildrenAsync(string path, Action<WatchedEvent> watch, CancellationToken ct) =>
        inner.WatchChildrenAsync(path, watch, ct);

    public Task<NodeData> GetDataAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) =>
        inner.GetDataAsync(path, watch is null ? null : e =>
        {
            Interlocked.Increment(ref _wakeUps);
            watch(e);
        }, ct);

    public Task<Stat?> ExistsAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) => inner.ExistsAsync(path, watch, ct);

    public Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte> data, int version, CancellationToken ct) => inner.SetDataAsync(path, data, version, ct);

    /// <summary>How many replies of one kind of request are still to be lost, and how.</summary>
    private sealed class Losses
    {
        private int _left;

        public LostReply How { get; private set; }

        public bool Pending => Volatile.Read(ref _left) > 0;

        public void Set(LostReply how, int count)
        {
            How = how;
            Volatile.Write(ref _left, count);
        }

        public void Spend() => Interlocked.Decrement(ref _left);
    }
}
