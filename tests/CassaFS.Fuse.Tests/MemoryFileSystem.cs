using CassaFS.Fuse;

namespace CassaFS.Fuse.Tests;

/// <summary>
/// A small in-memory filesystem to exercise the bindings: sparse 64 KiB blocks (so offsets past 4 GiB cost
/// nothing), stable readdir cookies, rename flags, xattrs and blocking flock. It also records what the kernel
/// sent (largest write, readdir calls, caller credentials) for the tests to check.
/// </summary>
public sealed class MemoryFileSystem : FuseFileSystem
{
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFIFO = 0x1000;
    private const int BlockSize = 64 * 1024;

    private sealed class Node
    {
        public ulong Ino;
        public uint Mode;
        public uint Uid, Gid, LinkCount = 1;
        public ulong RDev;
        public long Size;
        public FuseTime ATime, MTime, CTime;
        public string? Target;
        public readonly Dictionary<string, (ulong Ino, long Cookie)> Children = new(StringComparer.Ordinal);
        public long NextCookie = 3;
        public ulong Parent;
        public readonly Dictionary<long, byte[]> Blocks = [];
        public readonly Dictionary<string, byte[]> XAttrs = new(StringComparer.Ordinal);
        public ulong? ExclusiveOwner;
        public readonly HashSet<ulong> SharedOwners = [];
        public TaskCompletionSource LockChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly List<(ulong Owner, PosixLockType Type, long Start, long End, int Pid)> RangeLocks = [];
        public bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
    }

    /// <summary>Completing it lets every lookup of "hang-until-released" end (with ENOENT).</summary>
    public TaskCompletionSource Hung { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly object _gate = new();
    private readonly Dictionary<ulong, Node> _nodes = [];
    private ulong _nextIno = 2;
    private long _nextHandle = 1;
    private int _largestWrite;
    private int _largestRead;
    private int _readDirCalls;
    private int _readDirPlusCalls;
    private int _slowInFlight;
    private int _lookups;
    private int _getAttributes;

    public MemoryFileSystem()
    {
        var now = FuseTime.Now;
        _nodes[RootIno] = new Node { Ino = RootIno, Mode = S_IFDIR | 0x1FF, LinkCount = 2, ATime = now, MTime = now, CTime = now, Parent = RootIno };
    }

    /// <summary>Largest single write request seen.</summary>
    public int LargestWrite => Volatile.Read(ref _largestWrite);

    /// <summary>Getattr requests answered so far.</summary>
    public int GetAttributesCalls => Volatile.Read(ref _getAttributes);

    /// <summary>Lookup requests answered so far.</summary>
    public int Lookups => Volatile.Read(ref _lookups);

    /// <summary>Largest single read request seen.</summary>
    public int LargestRead => Volatile.Read(ref _largestRead);

    public int ReadDirCalls => Volatile.Read(ref _readDirCalls);

    public int ReadDirPlusCalls => Volatile.Read(ref _readDirPlusCalls);

    /// <summary>Credentials of the last create/mkdir: uid, gid, pid, supplementary groups.</summary>
    public (uint Uid, uint Gid, int Pid, uint[] Groups)? LastCreator { get; private set; }

    /// <summary>Lookups of names starting "slow-" wait until this many are in flight at once (or 10 s pass).</summary>
    public int SlowLookupsToGather { get; set; } = 1;

    /// <summary>Most "slow-" lookups seen in the handler at the same time.</summary>
    public int SlowLookupsGathered { get; private set; }

    /// <summary>Replaces a file's content without the kernel knowing, as another node of a shared filesystem would.</summary>
    public void ReplaceContentBehindTheKernel(ulong ino, ReadOnlySpan<byte> content)
    {
        lock (_gate)
        {
            var n = _nodes[ino];
            n.Blocks.Clear();
            var block = new byte[BlockSize];
            content.CopyTo(block);
            n.Blocks[0] = block;
            n.Size = content.Length;
            n.MTime = n.CTime = FuseTime.Now;
        }
    }

    /// <summary>Removes a name without the kernel knowing.</summary>
    public void RemoveBehindTheKernel(ulong parent, string name)
    {
        lock (_gate)
        {
            Assert.Equal(Errno.Success, Remove(parent, name, directory: false));
        }
    }

    public bool Mounted { get; private set; }
    public bool Unmounted { get; private set; }

    public override void OnMounted() => Mounted = true;

    public override void OnUnmounted() => Unmounted = true;

    private static InodeAttributes Attributes(Node n) => new()
    {
        Ino = n.Ino,
        Mode = n.Mode,
        LinkCount = n.LinkCount,
        Uid = n.Uid,
        Gid = n.Gid,
        RDev = n.RDev,
        Size = n.IsDirectory ? 4096 : n.Size,
        Blocks = n.Blocks.Count * (BlockSize / 512),
        BlockSize = BlockSize,
        AccessTime = n.ATime,
        ModificationTime = n.MTime,
        ChangeTime = n.CTime,
    };

    private static FuseEntry Entry(Node n) => new(Attributes(n));

    private bool TryNode(ulong ino, out Node node) => _nodes.TryGetValue(ino, out node!);

    public override async ValueTask<FuseResult<FuseEntry>> LookupAsync(FuseRequestContext context, ulong parent, string name)
    {
        Interlocked.Increment(ref _lookups);
        if (name == "hang-until-released")
        {
            await Hung.Task.ConfigureAwait(false); // a server that stopped answering
            throw new FuseException(Errno.ENOENT);
        }
        if (name == "fail-with-eio")
        {
            throw new InvalidOperationException("injected handler failure");
        }
        if (name == "fail-with-eacces")
        {
            throw new FuseException(Errno.EACCES);
        }
        if (name == "fail-with-negative-eperm")
        {
            return (Errno)(-(int)Errno.EPERM);
        }
        if (name.StartsWith("slow-", StringComparison.Ordinal))
        {
            await GatherSlowLookup();
        }
        lock (_gate)
        {
            if (!TryNode(parent, out var dir) || !dir.IsDirectory)
            {
                return Errno.ENOTDIR;
            }
            if (!dir.Children.TryGetValue(name, out var child))
            {
                return Errno.ENOENT;
            }
            return Entry(_nodes[child.Ino]);
        }
    }

    private async Task GatherSlowLookup()
    {
        int inFlight = Interlocked.Increment(ref _slowInFlight);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (true)
            {
                lock (_gate)
                {
                    SlowLookupsGathered = Math.Max(SlowLookupsGathered, Volatile.Read(ref _slowInFlight));
                    if (SlowLookupsGathered >= SlowLookupsToGather || DateTime.UtcNow > deadline)
                    {
                        return;
                    }
                }
                await Task.Delay(10);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _slowInFlight);
        }
    }

    public override ValueTask<FuseResult<InodeAttributes>> GetAttributesAsync(FuseRequestContext context, ulong ino, ulong? fileHandle)
    {
        Interlocked.Increment(ref _getAttributes);
        lock (_gate)
        {
            return new(TryNode(ino, out var n) ? Attributes(n) : Errno.ENOENT);
        }
    }

    public override ValueTask<FuseResult<InodeAttributes>> SetAttributesAsync(FuseRequestContext context, ulong ino, AttributeChanges changes)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n))
            {
                return new(Errno.ENOENT);
            }
            var now = FuseTime.Now;
            if (changes.Has(AttributeFields.Mode)) n.Mode = (n.Mode & S_IFMT) | (changes.Mode & 0xFFF);
            if (changes.Has(AttributeFields.Uid)) n.Uid = changes.Uid;
            if (changes.Has(AttributeFields.Gid)) n.Gid = changes.Gid;
            if (changes.Has(AttributeFields.Size))
            {
                if (n.IsDirectory) return new(Errno.EISDIR);
                Truncate(n, changes.Size);
                n.MTime = now;
            }
            if (changes.Has(AttributeFields.AccessTimeNow)) n.ATime = now;
            else if (changes.Has(AttributeFields.AccessTime)) n.ATime = changes.AccessTime;
            if (changes.Has(AttributeFields.ModificationTimeNow)) n.MTime = now;
            else if (changes.Has(AttributeFields.ModificationTime)) n.MTime = changes.ModificationTime;
            n.CTime = now;
            return new(Attributes(n));
        }
    }

    private static void Truncate(Node n, long size)
    {
        foreach (var block in n.Blocks.Keys.Where(b => (long)b * BlockSize >= size).ToList())
        {
            n.Blocks.Remove(block);
        }
        long last = size / BlockSize;
        if (n.Blocks.TryGetValue(last, out var data))
        {
            Array.Clear(data, (int)(size % BlockSize), BlockSize - (int)(size % BlockSize));
        }
        n.Size = size;
    }

    public override ValueTask<FuseResult<string>> ReadLinkAsync(FuseRequestContext context, ulong ino)
    {
        lock (_gate)
        {
            return new(TryNode(ino, out var n) && n.Target is not null ? n.Target : Errno.EINVAL);
        }
    }

    private FuseResult<Node> AddNode(FuseRequestContext context, ulong parent, string name, uint mode, string? target = null, ulong rdev = 0)
    {
        if (!TryNode(parent, out var dir) || !dir.IsDirectory)
        {
            return Errno.ENOTDIR;
        }
        if (dir.Children.ContainsKey(name))
        {
            return Errno.EEXIST;
        }
        var now = FuseTime.Now;
        var node = new Node
        {
            Ino = _nextIno++,
            Mode = mode,
            Uid = context.Uid,
            Gid = context.Gid,
            RDev = rdev,
            Target = target,
            Size = target is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(target),
            LinkCount = (mode & S_IFMT) == S_IFDIR ? 2u : 1u,
            ATime = now,
            MTime = now,
            CTime = now,
            Parent = parent,
        };
        _nodes[node.Ino] = node;
        dir.Children[name] = (node.Ino, dir.NextCookie++);
        if (node.IsDirectory) dir.LinkCount++;
        dir.MTime = dir.CTime = now;
        LastCreator = (context.Uid, context.Gid, context.Pid, context.GetSupplementaryGroups());
        return node;
    }

    public override ValueTask<FuseResult<FuseEntry>> MakeNodeAsync(FuseRequestContext context, ulong parent, string name, uint mode, ulong rdev)
    {
        lock (_gate)
        {
            var r = AddNode(context, parent, name, mode, rdev: rdev);
            return new(r.IsSuccess ? Entry(r.Value) : r.Error);
        }
    }

    public override ValueTask<FuseResult<FuseEntry>> MakeDirectoryAsync(FuseRequestContext context, ulong parent, string name, uint mode)
    {
        lock (_gate)
        {
            var r = AddNode(context, parent, name, S_IFDIR | (mode & 0xFFF));
            return new(r.IsSuccess ? Entry(r.Value) : r.Error);
        }
    }

    public override ValueTask<FuseResult<FuseEntry>> SymLinkAsync(FuseRequestContext context, string target, ulong parent, string name)
    {
        lock (_gate)
        {
            var r = AddNode(context, parent, name, S_IFLNK | 0x1FF, target);
            return new(r.IsSuccess ? Entry(r.Value) : r.Error);
        }
    }

    public override ValueTask<FuseResult<(FuseEntry Entry, FuseOpenedFile File)>> CreateAsync(FuseRequestContext context, ulong parent, string name, uint mode, int flags)
    {
        lock (_gate)
        {
            var r = AddNode(context, parent, name, mode);
            if (!r.IsSuccess) return new(r.Error);
            return new((Entry(r.Value), new FuseOpenedFile((ulong)Interlocked.Increment(ref _nextHandle))));
        }
    }

    public override ValueTask<FuseResult<FuseEntry>> LinkAsync(FuseRequestContext context, ulong ino, ulong newParent, string newName)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            if (n.IsDirectory) return new(Errno.EPERM);
            if (!TryNode(newParent, out var dir) || !dir.IsDirectory) return new(Errno.ENOTDIR);
            if (dir.Children.ContainsKey(newName)) return new(Errno.EEXIST);
            dir.Children[newName] = (ino, dir.NextCookie++);
            n.LinkCount++;
            n.CTime = FuseTime.Now;
            return new(Entry(n));
        }
    }

    private Errno Remove(ulong parent, string name, bool directory)
    {
        if (!TryNode(parent, out var dir) || !dir.IsDirectory) return Errno.ENOTDIR;
        if (!dir.Children.TryGetValue(name, out var child)) return Errno.ENOENT;
        var n = _nodes[child.Ino];
        if (directory && !n.IsDirectory) return Errno.ENOTDIR;
        if (!directory && n.IsDirectory) return Errno.EISDIR;
        if (directory && n.Children.Count > 0) return Errno.ENOTEMPTY;
        dir.Children.Remove(name);
        if (directory) dir.LinkCount--;
        n.LinkCount = directory ? 0 : n.LinkCount - 1;
        dir.MTime = dir.CTime = FuseTime.Now;
        // Nodes stay in the table: the kernel may still hold lookups (the test filesystem never forgets).
        return Errno.Success;
    }

    public override ValueTask<Errno> UnlinkAsync(FuseRequestContext context, ulong parent, string name)
    {
        lock (_gate) return new(Remove(parent, name, directory: false));
    }

    public override ValueTask<Errno> RemoveDirectoryAsync(FuseRequestContext context, ulong parent, string name)
    {
        lock (_gate) return new(Remove(parent, name, directory: true));
    }

    public override ValueTask<Errno> RenameAsync(FuseRequestContext context, ulong parent, string name, ulong newParent, string newName, RenameMode flags)
    {
        lock (_gate)
        {
            if (!TryNode(parent, out var from) || !TryNode(newParent, out var to)) return new(Errno.ENOENT);
            if (!from.Children.TryGetValue(name, out var source)) return new(Errno.ENOENT);
            bool targetExists = to.Children.TryGetValue(newName, out var target);
            if ((flags & RenameMode.NoReplace) != 0 && targetExists) return new(Errno.EEXIST);
            if ((flags & RenameMode.Exchange) != 0)
            {
                if (!targetExists) return new(Errno.ENOENT);
                from.Children[name] = (target.Ino, source.Cookie);
                to.Children[newName] = (source.Ino, target.Cookie);
                return new(Errno.Success);
            }
            if (targetExists)
            {
                var t = _nodes[target.Ino];
                var s = _nodes[source.Ino];
                if (t.IsDirectory && !s.IsDirectory) return new(Errno.EISDIR);
                if (!t.IsDirectory && s.IsDirectory) return new(Errno.ENOTDIR);
                if (t.IsDirectory && t.Children.Count > 0) return new(Errno.ENOTEMPTY);
                to.Children.Remove(newName);
                t.LinkCount = t.IsDirectory ? 0 : t.LinkCount - 1;
            }
            from.Children.Remove(name);
            to.Children[newName] = (source.Ino, to.NextCookie++);
            return new(Errno.Success);
        }
    }

    public override ValueTask<FuseResult<FuseOpenedFile>> OpenAsync(FuseRequestContext context, ulong ino, int flags) =>
        new(new FuseOpenedFile((ulong)Interlocked.Increment(ref _nextHandle)));

    public override ValueTask<FuseResult<int>> ReadAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, Memory<byte> buffer)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            _largestRead = Math.Max(_largestRead, buffer.Length);
            int count = (int)Math.Clamp(n.Size - offset, 0, buffer.Length);
            var span = buffer.Span[..count];
            for (int done = 0; done < count;)
            {
                long position = offset + done;
                int within = (int)(position % BlockSize);
                int chunk = Math.Min(BlockSize - within, count - done);
                if (n.Blocks.TryGetValue(position / BlockSize, out var block))
                {
                    block.AsSpan(within, chunk).CopyTo(span[done..]);
                }
                else
                {
                    span.Slice(done, chunk).Clear();
                }
                done += chunk;
            }
            return new(count);
        }
    }

    public override async ValueTask<FuseResult<int>> WriteAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, ReadOnlyMemory<byte> data)
    {
        // Yield so writes take the asynchronous reply path (the data copy must outlive the callback).
        await Task.Yield();
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return Errno.ENOENT;
            _largestWrite = Math.Max(_largestWrite, data.Length);
            var span = data.Span;
            for (int done = 0; done < span.Length;)
            {
                long position = offset + done;
                int within = (int)(position % BlockSize);
                int chunk = Math.Min(BlockSize - within, span.Length - done);
                long index = position / BlockSize;
                if (!n.Blocks.TryGetValue(index, out var block))
                {
                    n.Blocks[index] = block = new byte[BlockSize];
                }
                span.Slice(done, chunk).CopyTo(block.AsSpan(within));
                done += chunk;
            }
            n.Size = Math.Max(n.Size, offset + span.Length);
            n.MTime = n.CTime = FuseTime.Now;
            return span.Length;
        }
    }

    public override ValueTask<Errno> FlushAsync(FuseRequestContext context, ulong ino, FuseFileHandle file)
    {
        // close(2) drops the closing process's POSIX locks on the file.
        lock (_gate)
        {
            if (TryNode(ino, out var n) && n.RangeLocks.RemoveAll(l => l.Owner == file.LockOwner) > 0)
            {
                SignalLockChange(n);
            }
        }
        return new(Errno.Success);
    }

    public override ValueTask<Errno> ReleaseAsync(FuseRequestContext context, ulong ino, FuseFileHandle file)
    {
        if (file.FlockRelease)
        {
            lock (_gate)
            {
                if (TryNode(ino, out var n)) DropFlock(n, file.LockOwner);
            }
        }
        return new(Errno.Success);
    }

    public override ValueTask<Errno> SyncAsync(FuseRequestContext context, ulong ino, ulong fileHandle, bool dataOnly) => new(Errno.Success);

    public override ValueTask<FuseResult<FuseOpenedFile>> OpenDirectoryAsync(FuseRequestContext context, ulong ino, int flags)
    {
        lock (_gate)
        {
            return new(TryNode(ino, out var n) && n.IsDirectory ? new FuseOpenedFile(ino) : Errno.ENOTDIR);
        }
    }

    public override ValueTask<Errno> ReadDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, DirectoryBuffer buffer)
    {
        Interlocked.Increment(ref buffer.IsPlus ? ref _readDirPlusCalls : ref _readDirCalls);
        lock (_gate)
        {
            if (!TryNode(ino, out var dir)) return new(Errno.ENOENT);
            var listing = new List<(string Name, Node Node, long Cookie)> { (".", dir, 1), ("..", _nodes[dir.Parent], 2) };
            listing.AddRange(dir.Children.OrderBy(c => c.Value.Cookie).Select(c => (c.Key, _nodes[c.Value.Ino], c.Value.Cookie)));
            foreach (var (name, node, cookie) in listing)
            {
                if (cookie <= offset) continue;
                bool added = buffer.IsPlus && name is not ("." or "..")
                    ? buffer.TryAdd(name, Entry(node), cookie)
                    : buffer.TryAdd(name, node.Ino, node.Mode, cookie);
                if (!added) break;
            }
            return new(Errno.Success);
        }
    }

    public override ValueTask<FuseResult<FileSystemStatistics>> GetStatisticsAsync(FuseRequestContext context, ulong ino)
    {
        lock (_gate)
        {
            return new(new FileSystemStatistics
            {
                BlockSize = 4096,
                Blocks = 1_000_000,
                BlocksFree = 750_000,
                BlocksAvailable = 700_000,
                Files = 500_000,
                FilesFree = 500_000 - (ulong)_nodes.Count,
                FilesAvailable = 500_000 - (ulong)_nodes.Count,
                MaxNameLength = 255,
            });
        }
    }

    public override ValueTask<Errno> SetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name, ReadOnlyMemory<byte> value, XAttrCondition condition)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            bool exists = n.XAttrs.ContainsKey(name);
            if ((condition & XAttrCondition.Create) != 0 && exists) return new(Errno.EEXIST);
            if ((condition & XAttrCondition.Replace) != 0 && !exists) return new(Errno.ENODATA);
            n.XAttrs[name] = value.ToArray();
            return new(Errno.Success);
        }
    }

    public override ValueTask<FuseResult<ReadOnlyMemory<byte>>> GetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            return new(n.XAttrs.TryGetValue(name, out var v) ? new ReadOnlyMemory<byte>(v) : Errno.ENODATA);
        }
    }

    public override ValueTask<FuseResult<IReadOnlyList<string>>> ListExtendedAttributesAsync(FuseRequestContext context, ulong ino)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            return new(n.XAttrs.Keys.Order(StringComparer.Ordinal).ToList());
        }
    }

    public override ValueTask<Errno> RemoveExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            return new(n.XAttrs.Remove(name) ? Errno.Success : Errno.ENODATA);
        }
    }

    public override async ValueTask<Errno> FlockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, FlockOperation operation)
    {
        ulong owner = file.LockOwner;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (!TryNode(ino, out var n)) return Errno.ENOENT;
                if ((operation & FlockOperation.Unlock) != 0)
                {
                    DropFlock(n, owner);
                    return Errno.Success;
                }
                bool exclusive = (operation & FlockOperation.Exclusive) != 0;
                bool othersShare = n.SharedOwners.Any(o => o != owner);
                bool otherExclusive = n.ExclusiveOwner is { } x && x != owner;
                if (!otherExclusive && (!exclusive || !othersShare))
                {
                    n.SharedOwners.Remove(owner);
                    if (n.ExclusiveOwner == owner) n.ExclusiveOwner = null;
                    if (exclusive) n.ExclusiveOwner = owner;
                    else n.SharedOwners.Add(owner);
                    return Errno.Success;
                }
                if ((operation & FlockOperation.NonBlocking) != 0) return Errno.EAGAIN;
                changed = n.LockChanged.Task;
            }
            // An interrupted wait (the caller got a signal) throws OperationCanceledException, which answers EINTR.
            await changed.WaitAsync(context.Interrupted);
        }
    }

    private static void DropFlock(Node n, ulong owner)
    {
        n.SharedOwners.Remove(owner);
        if (n.ExclusiveOwner == owner) n.ExclusiveOwner = null;
        SignalLockChange(n);
    }

    private static void SignalLockChange(Node n)
    {
        var previous = n.LockChanged;
        n.LockChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }

    private static long EndOf(PosixLock l) => l.Length == 0 ? long.MaxValue : l.Start + l.Length - 1;

    private static (ulong Owner, PosixLockType Type, long Start, long End, int Pid)? Conflict(Node n, ulong owner, PosixLock wanted)
    {
        long end = EndOf(wanted);
        foreach (var held in n.RangeLocks)
        {
            if (held.Owner != owner && held.Start <= end && wanted.Start <= held.End &&
                (held.Type == PosixLockType.Write || wanted.Type == PosixLockType.Write))
            {
                return held;
            }
        }
        return null;
    }

    public override ValueTask<FuseResult<PosixLock>> GetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock probe)
    {
        lock (_gate)
        {
            if (!TryNode(ino, out var n)) return new(Errno.ENOENT);
            if (Conflict(n, file.LockOwner, probe) is { } c)
            {
                return new(new PosixLock(c.Type, c.Start, c.End == long.MaxValue ? 0 : c.End - c.Start + 1, c.Pid));
            }
            return new(probe with { Type = PosixLockType.Unlock });
        }
    }

    public override async ValueTask<Errno> SetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock lockRange, bool wait)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (!TryNode(ino, out var n)) return Errno.ENOENT;
                if (lockRange.Type == PosixLockType.Unlock || Conflict(n, file.LockOwner, lockRange) is null)
                {
                    CarveOut(n, file.LockOwner, lockRange.Start, EndOf(lockRange));
                    if (lockRange.Type != PosixLockType.Unlock)
                    {
                        n.RangeLocks.Add((file.LockOwner, lockRange.Type, lockRange.Start, EndOf(lockRange), lockRange.Pid));
                    }
                    SignalLockChange(n);
                    return Errno.Success;
                }
                if (!wait) return Errno.EAGAIN;
                changed = n.LockChanged.Task;
            }
            await changed.WaitAsync(context.Interrupted);
        }
    }

    /// <summary>Removes the owner's locks from [start, end], splitting ranges that stick out on either side.</summary>
    private static void CarveOut(Node n, ulong owner, long start, long end)
    {
        var kept = new List<(ulong, PosixLockType, long, long, int)>();
        foreach (var l in n.RangeLocks)
        {
            if (l.Owner != owner || l.End < start || l.Start > end)
            {
                kept.Add(l);
                continue;
            }
            if (l.Start < start) kept.Add((l.Owner, l.Type, l.Start, start - 1, l.Pid));
            if (l.End > end) kept.Add((l.Owner, l.Type, end + 1, l.End, l.Pid));
        }
        n.RangeLocks.Clear();
        n.RangeLocks.AddRange(kept);
    }
}
