using System.Buffers.Binary;

namespace CassaFS.Mount;

/// <summary>
/// FUSE node ids for CassaFS inodes: the root is 1 and the all-zero UUID; any other inode gets a 64-bit id derived
/// from its UUID (so readdir's d_ino matches stat's st_ino), probing on in the rare case of a collision. The kernel's
/// lookup counts keep an id pinned; when <see cref="Forget"/> brings a count to zero the mapping is dropped.
/// <para>Each node also keeps the name the kernel last reached it by (parent and name of its last lookup, moved by
/// renames made through this mount), so the mount can say which path a lock is on. A hint, not the truth: another
/// mount's rename is not seen, and of a file's hard links only the last one looked up is kept.</para>
/// </summary>
public sealed class NodeTable
{
    private readonly object _gate = new();
    private readonly Dictionary<ulong, Node> _byId = new();
    private readonly Dictionary<Guid, ulong> _byInode = new();
    private readonly Dictionary<(ulong Parent, string Name), ulong> _byName = new();

    private sealed class Node(Guid inode)
    {
        public Guid Inode { get; } = inode;
        public ulong Lookups { get; set; }

        /// <summary>Where the kernel last found it (null for the root, and once its name went).</summary>
        public (ulong Parent, string Name)? Name { get; set; }

        /// <summary>The stored version the kernel's cached pages of it agree with, null when unknown.</summary>
        public InodeVersion? Cached { get; set; }
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

    /// <summary>
    /// The id the kernel knows <paramref name="inode"/> by, counting one more lookup (lookup, create, mkdir,
    /// readdirplus ...) of <paramref name="name"/> in the directory node <paramref name="parent"/>.
    /// </summary>
    public ulong Remember(Guid inode, ulong parent, string name)
    {
        lock (_gate)
        {
            var id = Assign(inode);
            var node = _byId[id];
            node.Lookups++;
            if (id != RootId) Name(id, node, (parent, name));
            return id;
        }
    }

    /// <summary>A rename through this mount: the node found as <paramref name="name"/> in <paramref name="parent"/> now has the new name.</summary>
    public void Renamed(ulong parent, string name, ulong newParent, string newName)
    {
        lock (_gate)
        {
            Unnamed(newParent, newName);
            if (_byName.Remove((parent, name), out var id) && _byId.TryGetValue(id, out var node)) Name(id, node, (newParent, newName));
        }
    }

    /// <summary>RENAME_EXCHANGE through this mount: the two names swap their nodes.</summary>
    public void Exchanged(ulong parent, string name, ulong newParent, string newName)
    {
        lock (_gate)
        {
            _byName.Remove((parent, name), out var first);
            _byName.Remove((newParent, newName), out var second);
            if (first != 0 && _byId.TryGetValue(first, out var a)) Name(first, a, (newParent, newName));
            if (second != 0 && _byId.TryGetValue(second, out var b)) Name(second, b, (parent, name));
        }
    }

    /// <summary>An unlink or rmdir through this mount: the name no longer leads to its node.</summary>
    public void Unnamed(ulong parent, string name)
    {
        lock (_gate)
        {
            if (_byName.Remove((parent, name), out var id) && _byId.TryGetValue(id, out var node)) node.Name = null;
        }
    }

    /// <summary>The inode the kernel last found under <paramref name="name"/> in <paramref name="parent"/>; null when it found none there (or since forgot it).</summary>
    public Guid? Child(ulong parent, string name)
    {
        lock (_gate) return _byName.TryGetValue((parent, name), out var id) && _byId.TryGetValue(id, out var node) ? node.Inode : null;
    }

    /// <summary>The path (from the mount's root) the kernel last reached node <paramref name="id"/> by; null when a name on the way is unknown.</summary>
    public string? PathOf(ulong id)
    {
        var names = new List<string>();
        lock (_gate)
        {
            while (id != RootId)
            {
                if (!_byId.TryGetValue(id, out var node) || node.Name is not { } at || names.Count > 4096) return null;
                names.Add(at.Name);
                id = at.Parent;
            }
        }
        names.Reverse();
        return "/" + string.Join('/', names);
    }

    private void Name(ulong id, Node node, (ulong Parent, string Name) at)
    {
        if (node.Name is { } old && _byName.TryGetValue(old, out var holder) && holder == id) _byName.Remove(old);
        node.Name = at;
        _byName[at] = id;
    }

    /// <summary>The id to show for <paramref name="inode"/> without counting a lookup (readdir's d_ino, stat of an open file).</summary>
    public ulong Peek(Guid inode)
    {
        lock (_gate)
        {
            return _byInode.TryGetValue(inode, out var id) ? id : Derive(inode);
        }
    }

    /// <summary>The id the kernel holds <paramref name="inode"/> by; false when it holds none.</summary>
    public bool TryGetId(Guid inode, out ulong id)
    {
        lock (_gate) return _byInode.TryGetValue(inode, out id);
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

    /// <summary>
    /// The stored version the kernel's cached pages of node <paramref name="id"/> agree with, or null when unknown. It
    /// lives as long as the node: the kernel's pages go with its inode, which it forgets first.
    /// </summary>
    public InodeVersion? CachedVersion(ulong id)
    {
        lock (_gate) return _byId.TryGetValue(id, out var node) ? node.Cached : null;
    }

    /// <summary>Notes what the kernel's cached pages of node <paramref name="id"/> agree with (null: they may be stale).</summary>
    public void NoteCached(ulong id, InodeVersion? version)
    {
        lock (_gate)
        {
            if (_byId.TryGetValue(id, out var node)) node.Cached = version;
        }
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
                if (node.Name is { } at && _byName.TryGetValue(at, out var holder) && holder == id) _byName.Remove(at);
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
