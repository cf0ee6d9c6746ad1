using System.Buffers.Binary;

namespace CassaFS.Mount;

/// <summary>
/// FUSE node ids for CassaFS inodes: the root is 1 and the all-zero UUID; any other inode gets a 64-bit id derived
/// from its UUID (so readdir's d_ino matches stat's st_ino), probing on in the rare case of a collision. The kernel's
/// lookup counts keep an id pinned; when <see cref="Forget"/> brings a count to zero the mapping is dropped.
/// </summary>
public sealed class NodeTable
{
    private readonly object _gate = new();
    private readonly Dictionary<ulong, Node> _byId = new();
    private readonly Dictionary<Guid, ulong> _byInode = new();

    private sealed class Node(Guid inode)
    {
        public Guid Inode { get; } = inode;
        public ulong Lookups { get; set; }
    }

    /// <summary>The FUSE root node id.</summary>
    public const ulong RootId = 1;

    public NodeTable()
    {
        _byId[RootId] = new Node(Guid.Empty) { Lookups = 1 };
        _byInode[Guid.Empty] = RootId;
    }

    /// <summary>Number of inodes the kernel currently holds references to (the root included).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _byId.Count;
        }
    }

    /// <summary>The id the kernel knows <paramref name="inode"/> by, counting one more lookup (lookup, create, mkdir, readdirplus ...).</summary>
    public ulong Remember(Guid inode)
    {
        lock (_gate)
        {
            var id = Assign(inode);
            _byId[id].Lookups++;
            return id;
        }
    }

    /// <summary>The id to show for <paramref name="inode"/> without counting a lookup (readdir's d_ino, stat of an open file).</summary>
    public ulong Peek(Guid inode)
    {
        lock (_gate)
        {
            return _byInode.TryGetValue(inode, out var id) ? id : Derive(inode);
        }
    }

    /// <summary>The inode behind a node id; false when the kernel asks about an id it has forgotten (answer ESTALE).</summary>
    public bool TryGetInode(ulong id, out Guid inode)
    {
        lock (_gate)
        {
            if (_byId.TryGetValue(id, out var node))
            {
                inode = node.Inode;
                return true;
            }
        }
        inode = default;
        return false;
    }

    /// <summary>The kernel dropped <paramref name="count"/> references; the mapping goes when none is left.</summary>
    public void Forget(ulong id, ulong count)
    {
        if (id == RootId) return;
        lock (_gate)
        {
            if (!_byId.TryGetValue(id, out var node)) return;
            node.Lookups = node.Lookups > count ? node.Lookups - count : 0;
            if (node.Lookups == 0)
            {
                _byId.Remove(id);
                _byInode.Remove(node.Inode);
            }
        }
    }

    private ulong Assign(Guid inode)
    {
        if (_byInode.TryGetValue(inode, out var existing)) return existing;
        var id = Derive(inode);
        while (_byId.ContainsKey(id)) id = id == ulong.MaxValue ? 2 : id + 1;
        _byId[id] = new Node(inode);
        _byInode[inode] = id;
        return id;
    }

    private static ulong Derive(Guid inode)
    {
        if (inode == Guid.Empty) return RootId;
        Span<byte> bytes = stackalloc byte[16];
        inode.TryWriteBytes(bytes);
        var id = BinaryPrimitives.ReadUInt64LittleEndian(bytes) ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]);
        // 0 is "no node" to the kernel, 1 the root; keep ids in the positive range so tools that print them signed agree.
        id &= long.MaxValue;
        return id < 2 ? id + 2 : id;
    }
}
