namespace CassaFS.ZooKeeper;

/// <summary>One operation of a <see cref="ZooKeeperClient.MultiAsync"/> transaction: all apply, or none.</summary>
public abstract record Op(string Path)
{
    internal abstract OpCode Code { get; }
    internal abstract void WriteBody(JuteWriter w, string serverPath);

    public static Op Create(string path, ReadOnlyMemory<byte> data, CreateMode mode = CreateMode.Persistent, IReadOnlyList<Acl>? acl = null) =>
        new CreateOp(path, data, mode, acl ?? Acl.OpenUnsafe);

    public static Op Delete(string path, int version = -1) => new DeleteOp(path, version);

    public static Op SetData(string path, ReadOnlyMemory<byte> data, int version = -1) => new SetDataOp(path, data, version);

    /// <summary>Fails the transaction unless the node's data version is <paramref name="version"/>.</summary>
    public static Op Check(string path, int version) => new CheckOp(path, version);
}

/// <summary>Creates a node within a transaction.</summary>
public sealed record CreateOp(string Path, ReadOnlyMemory<byte> Data, CreateMode Mode, IReadOnlyList<Acl> Acl) : Op(Path)
{
    internal override OpCode Code => OpCode.Create;

    internal override void WriteBody(JuteWriter w, string serverPath)
    {
        w.WriteString(serverPath);
        w.WriteBuffer(Data.Span);
        w.WriteAcl(Acl.Count > 0 ? (IReadOnlyCollection<Acl>)Acl : throw new InvalidOperationException($"The create of {Path} in a transaction has an empty ACL; give at least one entry."));
        w.WriteInt((int)Mode);
    }
}

/// <summary>Deletes a node within a transaction.</summary>
public sealed record DeleteOp(string Path, int Version) : Op(Path)
{
    internal override OpCode Code => OpCode.Delete;

    internal override void WriteBody(JuteWriter w, string serverPath)
    {
        w.WriteString(serverPath);
        w.WriteInt(Version);
    }
}

/// <summary>Sets a node's data within a transaction.</summary>
public sealed record SetDataOp(string Path, ReadOnlyMemory<byte> Data, int Version) : Op(Path)
{
    internal override OpCode Code => OpCode.SetData;

    internal override void WriteBody(JuteWriter w, string serverPath)
    {
        w.WriteString(serverPath);
        w.WriteBuffer(Data.Span);
        w.WriteInt(Version);
    }
}

/// <summary>Checks a node's version within a transaction.</summary>
public sealed record CheckOp(string Path, int Version) : Op(Path)
{
    internal override OpCode Code => OpCode.Check;

    internal override void WriteBody(JuteWriter w, string serverPath)
    {
        w.WriteString(serverPath);
        w.WriteInt(Version);
    }
}

/// <summary>The outcome of one operation of a committed (or, inside an exception, rolled back) transaction.</summary>
public abstract record OpResult;

/// <summary>A node was created; <see cref="Path"/> carries the sequence suffix of a sequential node.</summary>
public sealed record CreateResult(string Path) : OpResult;

/// <summary>A node was deleted.</summary>
public sealed record DeleteResult : OpResult;

/// <summary>A node's data was set.</summary>
public sealed record SetDataResult(Stat Stat) : OpResult;

/// <summary>A version check passed.</summary>
public sealed record CheckResult : OpResult;

/// <summary>An operation of a failed transaction: <see cref="ErrorCode.Ok"/> for those before the failing one, which carries its own code.</summary>
public sealed record ErrorResult(ErrorCode Error) : OpResult;
