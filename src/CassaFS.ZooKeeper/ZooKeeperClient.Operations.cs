using System.Text;

namespace CassaFS.ZooKeeper;

public sealed partial class ZooKeeperClient
{
    /// <summary>Creates a node and returns its path (with the sequence suffix for a sequential mode).</summary>
    public async Task<string> CreateAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode = CreateMode.Persistent,
        IReadOnlyList<Acl>? acl = null, CancellationToken ct = default) =>
        (await CreateWithStatAsync(path, data, mode, acl, ct).ConfigureAwait(false)).Path;

    /// <summary>Creates a node and returns its path and metadata (create2).</summary>
    public Task<(string Path, Stat Stat)> CreateWithStatAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode = CreateMode.Persistent,
        IReadOnlyList<Acl>? acl = null, CancellationToken ct = default)
    {
        var sequential = mode is CreateMode.PersistentSequential or CreateMode.EphemeralSequential;
        PathRules.Validate(path, sequential);
        acl ??= Acl.OpenUnsafe;
        if (acl.Count == 0) throw new ArgumentException("An ACL must have at least one entry.", nameof(acl));
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.Create2, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteBuffer(data.Span);
            w.WriteAcl(acl.ToList());
            w.WriteInt((int)mode);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "create", path);
            var created = _target.ToClient(r.ReadString() ?? serverPath);
            return (created, r.ReadStat());
        }, ct);
    }

    /// <summary>Deletes a node if its data version is <paramref name="version"/> (-1: any version).</summary>
    public Task DeleteAsync(string path, int version = -1, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.Delete, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteInt(version);
        }, (ref JuteReader _, ErrorCode error) =>
        {
            ThrowOn(error, "delete", path);
            return true;
        }, ct);
    }

    /// <summary>
    /// The node's metadata, or null when it does not exist. A <paramref name="watch"/> fires once on the node's
    /// creation, deletion or data change, whichever comes first.
    /// </summary>
    public Task<Stat?> ExistsAsync(string path, Action<WatchedEvent>? watch = null, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.Exists, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteBool(watch is not null);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            if (error == ErrorCode.NoNode)
            {
                if (watch is not null) _watches.AddExist(path, watch);
                return null;
            }
            ThrowOn(error, "exists", path);
            var stat = r.ReadStat();
            if (watch is not null) _watches.AddData(path, watch);
            return (Stat?)stat;
        }, ct);
    }

    /// <summary>The node's data and metadata; a <paramref name="watch"/> fires once on its data change or deletion.</summary>
    public Task<NodeData> GetDataAsync(string path, Action<WatchedEvent>? watch = null, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.GetData, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteBool(watch is not null);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "getData", path);
            var result = new NodeData(r.ReadBuffer(), r.ReadStat());
            if (watch is not null) _watches.AddData(path, watch);
            return result;
        }, ct);
    }

    /// <summary>
    /// <see cref="ExistsAsync"/> with the watch as a task: it completes with the first event for the node, or with a
    /// <see cref="WatchEventType.None"/> event (state Expired or Closed) when the session ends first.
    /// </summary>
    public async Task<(Stat? Stat, Task<WatchedEvent> Changed)> ExistsWithWatchAsync(string path, CancellationToken ct = default)
    {
        var changed = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stat = await ExistsAsync(path, e => changed.TrySetResult(e), ct).ConfigureAwait(false);
        return (stat, changed.Task);
    }

    /// <summary><see cref="GetDataAsync"/> with the watch as a task (see <see cref="ExistsWithWatchAsync"/>).</summary>
    public async Task<(NodeData Node, Task<WatchedEvent> Changed)> GetDataWithWatchAsync(string path, CancellationToken ct = default)
    {
        var changed = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var node = await GetDataAsync(path, e => changed.TrySetResult(e), ct).ConfigureAwait(false);
        return (node, changed.Task);
    }

    /// <summary><see cref="GetChildrenAsync"/> with the watch as a task (see <see cref="ExistsWithWatchAsync"/>).</summary>
    public async Task<(NodeChildren Children, Task<WatchedEvent> Changed)> GetChildrenWithWatchAsync(string path, CancellationToken ct = default)
    {
        var changed = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var children = await GetChildrenAsync(path, e => changed.TrySetResult(e), ct).ConfigureAwait(false);
        return (children, changed.Task);
    }

    /// <summary>Sets the node's data if its version is <paramref name="version"/> (-1: any); returns the new metadata.</summary>
    public Task<Stat> SetDataAsync(string path, ReadOnlyMemory<byte> data, int version = -1, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.SetData, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteBuffer(data.Span);
            w.WriteInt(version);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "setData", path);
            return r.ReadStat();
        }, ct);
    }

    /// <summary>The node's children (names) and metadata; a <paramref name="watch"/> fires once when a child is added or removed, or the node is deleted.</summary>
    public Task<NodeChildren> GetChildrenAsync(string path, Action<WatchedEvent>? watch = null, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.GetChildren2, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteBool(watch is not null);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "getChildren", path);
            var result = new NodeChildren(r.ReadStrings(), r.ReadStat());
            if (watch is not null) _watches.AddChild(path, watch);
            return result;
        }, ct);
    }

    public Task<NodeAcl> GetAclAsync(string path, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.GetAcl, path, w => w.WriteString(serverPath), (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "getACL", path);
            return new NodeAcl(r.ReadAcl(), r.ReadStat());
        }, ct);
    }

    /// <summary>Replaces the node's ACL if its ACL version is <paramref name="aclVersion"/> (-1: any).</summary>
    public Task<Stat> SetAclAsync(string path, IReadOnlyList<Acl> acl, int aclVersion = -1, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        ArgumentNullException.ThrowIfNull(acl);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.SetAcl, path, w =>
        {
            w.WriteString(serverPath);
            w.WriteAcl(acl.ToList());
            w.WriteInt(aclVersion);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "setACL", path);
            return r.ReadStat();
        }, ct);
    }

    /// <summary>
    /// Applies every operation atomically, or none. On failure throws the failing operation's typed exception
    /// (e.g. <see cref="NodeExistsException"/>) with <see cref="ZooKeeperException.MultiResults"/> and
    /// <see cref="ZooKeeperException.FailedOperationIndex"/> set.
    /// </summary>
    public Task<IReadOnlyList<OpResult>> MultiAsync(IEnumerable<Op> operations, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var ops = operations.ToList();
        foreach (var op in ops)
            PathRules.Validate(op.Path, op is CreateOp { Mode: CreateMode.PersistentSequential or CreateMode.EphemeralSequential });
        return SubmitAsync(OpCode.Multi, null, w =>
        {
            foreach (var op in ops)
            {
                w.WriteInt((int)op.Code);
                w.WriteBool(false);
                w.WriteInt(-1);
                op.WriteBody(w, _target.ToServer(op.Path));
            }
            w.WriteInt(-1);
            w.WriteBool(true);
            w.WriteInt(-1);
        }, (ref JuteReader r, ErrorCode error) =>
        {
            if (r.Remaining == 0)
            {
                ThrowOn(error, "multi", null);
                return (IReadOnlyList<OpResult>)Array.Empty<OpResult>();
            }
            var results = new List<OpResult>(ops.Count);
            int? failed = null;
            while (true)
            {
                var type = (OpCode)r.ReadInt();
                var done = r.ReadBool();
                r.ReadInt();
                if (done) break;
                switch (type)
                {
                    case OpCode.Create:
                        results.Add(new CreateResult(_target.ToClient(r.ReadString() ?? string.Empty)));
                        break;
                    case OpCode.Create2:
                        results.Add(new CreateResult(_target.ToClient(r.ReadString() ?? string.Empty)));
                        r.ReadStat();
                        break;
                    case OpCode.Delete:
                        results.Add(new DeleteResult());
                        break;
                    case OpCode.SetData:
                        results.Add(new SetDataResult(r.ReadStat()));
                        break;
                    case OpCode.Check:
                        results.Add(new CheckResult());
                        break;
                    case OpCode.Error:
                        var code = (ErrorCode)r.ReadInt();
                        if (code != ErrorCode.Ok && code != ErrorCode.RuntimeInconsistency && failed is null) failed = results.Count;
                        results.Add(new ErrorResult(code));
                        break;
                    default:
                        throw new InvalidDataException($"ZooKeeper multi reply holds an unexpected operation type {(int)type}.");
                }
            }
            if (failed is null && error != ErrorCode.Ok) failed = results.FindIndex(x => x is ErrorResult { Error: not ErrorCode.Ok });
            if (failed is int index && index >= 0)
            {
                var code = ((ErrorResult)results[index]).Error;
                var e = ZooKeeperException.For(code, $"multi (operation {index}, {ops[index].GetType().Name.Replace("Op", "", StringComparison.Ordinal).ToLowerInvariant()}); nothing was applied:", index < ops.Count ? ops[index].Path : null);
                e.MultiResults = results;
                e.FailedOperationIndex = index;
                throw e;
            }
            return results;
        }, ct);
    }

    /// <summary>Waits until the server this client is connected to has caught up with the leader for <paramref name="path"/>.</summary>
    public Task SyncAsync(string path = "/", CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        var serverPath = _target.ToServer(path);
        return SubmitAsync(OpCode.Sync, path, w => w.WriteString(serverPath), (ref JuteReader r, ErrorCode error) =>
        {
            ThrowOn(error, "sync", path);
            return true;
        }, ct);
    }

    /// <summary>
    /// Adds credentials to the session, e.g. <c>AddAuthAsync("digest", "user:password")</c>; they are replayed on
    /// every later connection of the session. Never logged.
    /// </summary>
    public async Task AddAuthAsync(string scheme, string credentials, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(scheme);
        ArgumentNullException.ThrowIfNull(credentials);
        var entry = new AuthEntry(scheme, Encoding.UTF8.GetBytes(credentials));
        lock (_gate) _auth.Add(entry);
        while (true)
        {
            var connection = await ConnectedAsync(ct).ConfigureAwait(false);
            var reply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!await connection.SendAuthAsync(entry, reply).ConfigureAwait(false))
            {
                OnConnectionBroken(connection, await connection.Ended.ConfigureAwait(false));
                continue;
            }
            try
            {
                await reply.Task.WaitAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (ConnectionLossException)
            {
                // Adding credentials is idempotent: send them again on the next connection.
            }
        }
    }

    /// <summary>Creates every missing node of <paramref name="path"/> (persistent, empty, open ACL); nodes that exist are left alone.</summary>
    public async Task EnsurePathAsync(string path, CancellationToken ct = default)
    {
        PathRules.Validate(path, false);
        if (path == "/") return;
        if (await ExistsAsync(path, null, ct).ConfigureAwait(false) is not null) return;
        var end = 0;
        while (end < path.Length)
        {
            end = path.IndexOf('/', end + 1);
            if (end < 0) end = path.Length;
            try
            {
                await CreateAsync(path[..end], ReadOnlyMemory<byte>.Empty, CreateMode.Persistent, null, ct).ConfigureAwait(false);
            }
            catch (NodeExistsException)
            {
                // created by someone else, or by us before a connection loss
            }
        }
    }

    /// <summary>Creates the parents of <paramref name="path"/> as needed (persistent, empty), then the node itself.</summary>
    public async Task<string> CreateRecursiveAsync(string path, ReadOnlyMemory<byte> data, CreateMode mode = CreateMode.Persistent,
        IReadOnlyList<Acl>? acl = null, CancellationToken ct = default)
    {
        var parent = path.LastIndexOf('/');
        if (parent > 0) await EnsurePathAsync(path[..parent], ct).ConfigureAwait(false);
        return await CreateAsync(path, data, mode, acl, ct).ConfigureAwait(false);
    }

    /// <summary>Deletes a node and everything below it; nodes already gone are skipped.</summary>
    public async Task DeleteRecursiveAsync(string path, CancellationToken ct = default)
    {
        NodeChildren children;
        try
        {
            children = await GetChildrenAsync(path, null, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            return;
        }
        foreach (var child in children.Children)
            await DeleteRecursiveAsync(path == "/" ? "/" + child : $"{path}/{child}", ct).ConfigureAwait(false);
        if (path == "/") return;
        try
        {
            await DeleteAsync(path, -1, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            // already gone
        }
    }

    private static void ThrowOn(ErrorCode error, string operation, string? path)
    {
        if (error != ErrorCode.Ok) throw ZooKeeperException.For(error, operation, path);
    }
}
