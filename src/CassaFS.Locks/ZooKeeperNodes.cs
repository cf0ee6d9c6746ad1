using CassaFS.ZooKeeper;

namespace CassaFS.Locks;

/// <summary>
/// The ZooKeeper operations the lock recipe and its provider make, and no others. <see cref="ClientNodes"/> sends
/// them to the provider's client; being one narrow seam, it is also where a test puts a wrapper that loses a reply
/// after (or before) the server applied a request, to check how the recipe settles an unknown outcome.
/// </summary>
internal interface IZooKeeperNodes
{
    /// <summary>Creates a node; returns its path (with the sequence suffix of a sequential mode) and its metadata.</summary>
    Task<(string Path, Stat Stat)> CreateAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode, CancellationToken ct);

    Task DeleteAsync(string path, int version, CancellationToken ct);

    /// <summary>The node's metadata, or null when it does not exist; <paramref name="watch"/> fires once on its creation, deletion or data change.</summary>
    Task<Stat?> ExistsAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct);

    /// <summary>The node's data; <paramref name="watch"/> fires once on its deletion or data change.</summary>
    Task<NodeData> GetDataAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct);

    Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte> data, int version, CancellationToken ct);

    /// <summary>The names of the node's children (no watch: a waiter watches one node, never the parent).</summary>
    Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct);

    /// <summary>
    /// The names of the node's children; <paramref name="watch"/> fires once when they change. Only a holder that
    /// asked whether it is wanted (<see cref="ILockHandle.ContendedToken"/>) watches its lock's parent.
    /// </summary>
    Task<IReadOnlyList<string>> WatchChildrenAsync(string path, Action<WatchedEvent> watch, CancellationToken ct);

    /// <summary>
    /// Creates the node <paramref name="parent"/> and, in the same transaction, an EPHEMERAL_SEQUENTIAL child named
    /// from <paramref name="childPrefix"/> (a full path): the child's path, or null (nothing made) when the parent is
    /// there already or its own parent is not.
    /// </summary>
    Task<string?> CreateWithParentAsync(string parent, string childPrefix, ReadOnlyMemory<byte> data, CancellationToken ct);
}

/// <summary>The lock's ZooKeeper operations on a client (the way every provider runs them outside tests).</summary>
internal sealed class ClientNodes(ZooKeeperClient client) : IZooKeeperNodes
{
    public Task<(string Path, Stat Stat)> CreateAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode, CancellationToken ct) =>
        client.CreateWithStatAsync(path, data, mode, null, ct);

    public Task DeleteAsync(string path, int version, CancellationToken ct) => client.DeleteAsync(path, version, ct);

    public Task<Stat?> ExistsAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) => client.ExistsAsync(path, watch, ct);

    public Task<NodeData> GetDataAsync(string path, Action<WatchedEvent>? watch, CancellationToken ct) => client.GetDataAsync(path, watch, ct);

    public Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte> data, int version, CancellationToken ct) => client.SetDataAsync(path, data, version, ct);

    public async Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct) =>
        (await client.GetChildrenAsync(path, null, ct).ConfigureAwait(false)).Children;

    public async Task<IReadOnlyList<string>> WatchChildrenAsync(string path, Action<WatchedEvent> watch, CancellationToken ct) =>
        (await client.GetChildrenAsync(path, watch, ct).ConfigureAwait(false)).Children;

    public async Task<string?> CreateWithParentAsync(string parent, string childPrefix, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            var results = await client.MultiAsync(new[] { Op.Create(parent, ReadOnlyMemory<byte>.Empty), Op.Create(childPrefix, data, CreateMode.EphemeralSequential) }, ct).ConfigureAwait(false);
            return ((CreateResult)results[1]).Path;
        }
        catch (ZooKeeperException e) when (e is NodeExistsException or NoNodeException)
        {
            return null;
        }
    }
}
