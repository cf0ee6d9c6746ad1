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
}
