using CassaFS.ZooKeeper;

namespace CassaFS.Locks.Tests;

/// <summary>How the next creates lose their reply.</summary>
public enum LostCreateReply
{
    /// <summary>The server applies the create, then the reply is lost.</summary>
    AfterApplied,
    /// <summary>The connection breaks before the server saw the create.</summary>
    BeforeApplied,
}

/// <summary>
/// A lock provider's ZooKeeper operations with the test in between (<see cref="IZooKeeperNodes"/>, on the real
/// server): it counts the provider's listings and the watches that woke it, and can lose the reply of its next
/// sequential creates the way a broken connection would, with a ConnectionLoss.
/// </summary>
internal sealed class InterposedNodes(IZooKeeperNodes inner) : IZooKeeperNodes
{
    private int _listings;
    private int _wakeUps;
    private int _lostCreateReplies;
    private int _repliesLost;
    private LostCreateReply _how;

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

    /// <summary>How many create replies were lost so far.</summary>
    public int RepliesLost => Volatile.Read(ref _repliesLost);

    /// <summary>The node the last create lost after applied made (its name only), which the provider was never told.</summary>
    public string? LostNode { get; private set; }

    /// <summary>The next <paramref name="count"/> sequential creates end in ConnectionLoss, after or before the server applied them.</summary>
    public void LoseCreateReplies(LostCreateReply how, int count = 1)
    {
        _how = how;
        Volatile.Write(ref _lostCreateReplies, count);
    }

    public async Task<(string Path, Stat Stat)> CreateAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode, CancellationToken ct)
    {
        if (mode != CreateMode.EphemeralSequential || Volatile.Read(ref _lostCreateReplies) <= 0)
            return await inner.CreateAsync(path, data, mode, ct);
        // After applied: only a create the server did apply loses its reply (one refused, say for a missing parent,
        // answers as it would have); the loss is counted once the create is through.
        if (_how == LostCreateReply.AfterApplied)
        {
            var (created, _) = await inner.CreateAsync(path, data, mode, ct);
            LostNode = created[(created.LastIndexOf('/') + 1)..];
        }
        Interlocked.Decrement(ref _lostCreateReplies);
        Interlocked.Increment(ref _repliesLost);
        throw new ConnectionLossException(path, $"create {path}: the reply was lost ({_how}, by the test).", null);
    }

    public Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct)
    {
        Interlocked.Increment(ref _listings);
        return inner.GetChildrenAsync(path, ct);
    }

    public Task<NodeData> GetDataAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) =>
        inner.GetDataAsync(path, watch is null ? null : e =>
        {
            Interlocked.Increment(ref _wakeUps);
            watch(e);
        }, ct);

    public Task DeleteAsync(string path, int version, CancellationToken ct) => inner.DeleteAsync(path, version, ct);

    public Task<Stat?> ExistsAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) => inner.ExistsAsync(path, watch, ct);

    public Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte> data, int version, CancellationToken ct) => inner.SetDataAsync(path, data, version, ct);
}
