namespace CassaFS.Fuse;

/// <summary>
/// The low-level filesystem a <see cref="FuseMount"/> serves: node ids (ulong, root = 1) in, replies out.
/// Override what the filesystem supports; an operation left alone is not registered with libfuse, so the kernel
/// applies its default (ENOSYS, or local-only locking for flock and POSIX locks).
/// Answer an error by returning an <see cref="Errno"/> (implicitly a <see cref="FuseResult{T}"/>) or throwing
/// <see cref="FuseException"/>, or throwing its own exceptions and mapping them in <see cref="ErrnoFor"/>; any other
/// exception answers EIO and is reported to <see cref="FuseMountOptions.OnHandlerError"/>.
/// Handlers may complete asynchronously: the reply is sent when the task completes, from whichever thread
/// completes it, and the libfuse worker goes back to reading requests at once.
/// </summary>
public abstract class FuseFileSystem
{
    /// <summary>The node id of the root directory.</summary>
    public const ulong RootIno = 1;

    protected static ValueTask<FuseResult<T>> NotImplemented<T>() => new(Errno.ENOSYS);

    protected static ValueTask<Errno> NotImplemented() => new(Errno.ENOSYS);

    /// <summary>
    /// The errno a handler's exception answers with, for the filesystem's own exception types; null leaves it to
    /// the binding (FuseException's errno, EINTR for a cancellation, otherwise EIO).
    /// </summary>
    public virtual Errno? ErrnoFor(Exception exception) => null;

    /// <summary>The mount serving this filesystem (set by <see cref="FuseMount.MountAsync"/>), for cache invalidation; null before it.</summary>
    public FuseMount? Mount { get; internal set; }

    /// <summary>Called once the kernel connection is initialised (before the first request).</summary>
    public virtual void OnMounted() { }

    /// <summary>Called when the session is destroyed after unmount; no request follows.</summary>
    public virtual void OnUnmounted() { }

    public virtual ValueTask<FuseResult<FuseEntry>> LookupAsync(FuseRequestContext context, ulong parent, string name) => NotImplemented<FuseEntry>();

    /// <summary>The kernel dropped <paramref name="lookupCount"/> references to <paramref name="ino"/>; there is no reply.</summary>
    public virtual void Forget(ulong ino, ulong lookupCount) { }

    public virtual ValueTask<FuseResult<InodeAttributes>> GetAttributesAsync(FuseRequestContext context, ulong ino, ulong? fileHandle) => NotImplemented<InodeAttributes>();

    public virtual ValueTask<FuseResult<InodeAttributes>> SetAttributesAsync(FuseRequestContext context, ulong ino, AttributeChanges changes) => NotImplemented<InodeAttributes>();

    public virtual ValueTask<FuseResult<string>> ReadLinkAsync(FuseRequestContext context, ulong ino) => NotImplemented<string>();

    /// <summary>Creates a regular file, device, fifo or socket; <paramref name="mode"/> carries the type bits.</summary>
    public virtual ValueTask<FuseResult<FuseEntry>> MakeNodeAsync(FuseRequestContext context, ulong parent, string name, uint mode, ulong rdev) => NotImplemented<FuseEntry>();

    /// <summary>Creates a directory; <paramref name="mode"/> holds permission bits only (add S_IFDIR yourself).</summary>
    public virtual ValueTask<FuseResult<FuseEntry>> MakeDirectoryAsync(FuseRequestContext context, ulong parent, string name, uint mode) => NotImplemented<FuseEntry>();

    public virtual ValueTask<Errno> UnlinkAsync(FuseRequestContext context, ulong parent, string name) => NotImplemented();

    public virtual ValueTask<Errno> RemoveDirectoryAsync(FuseRequestContext context, ulong parent, string name) => NotImplemented();

    public virtual ValueTask<FuseResult<FuseEntry>> SymLinkAsync(FuseRequestContext context, string target, ulong parent, string name) => NotImplemented<FuseEntry>();

    public virtual ValueTask<Errno> RenameAsync(FuseRequestContext context, ulong parent, string name, ulong newParent, string newName, RenameMode flags) => NotImplemented();

    public virtual ValueTask<FuseResult<FuseEntry>> LinkAsync(FuseRequestContext context, ulong ino, ulong newParent, string newName) => NotImplemented<FuseEntry>();

    /// <summary>Opens a file; <paramref name="flags"/> are open(2) flags without O_CREAT/O_EXCL/O_NOCTTY.</summary>
    public virtual ValueTask<FuseResult<FuseOpenedFile>> OpenAsync(FuseRequestContext context, ulong ino, int flags) => NotImplemented<FuseOpenedFile>();

    /// <summary>Reads into <paramref name="buffer"/> (its length is the size asked for) and returns the byte count; short only at end of file.</summary>
    public virtual ValueTask<FuseResult<int>> ReadAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, Memory<byte> buffer) => NotImplemented<int>();

    /// <summary>Writes <paramref name="data"/> (valid until the returned task completes) and returns the byte count written.</summary>
    public virtual ValueTask<FuseResult<int>> WriteAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, ReadOnlyMemory<byte> data) => NotImplemented<int>();

    /// <summary>
    /// Writes the bytes of <paramref name="data"/>, which this call owns and must dispose (the session never touches it
    /// again): a filesystem that keeps the array, instead of copying it, disposes it once it is done with it. By default
    /// it calls <see cref="WriteAsync(FuseRequestContext, ulong, ulong, long, ReadOnlyMemory{byte})"/> and then disposes.
    /// </summary>
    public virtual async ValueTask<FuseResult<int>> WriteOwnedAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, FuseWriteBuffer data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using (data) return await WriteAsync(context, ino, fileHandle, offset, data.Memory).ConfigureAwait(false);
    }

    /// <summary>Called on each close(2) of a descriptor of the open file.</summary>
    public virtual ValueTask<Errno> FlushAsync(FuseRequestContext context, ulong ino, FuseFileHandle file) => NotImplemented();

    /// <summary>The last reference to the open file is gone; the result is not seen by any caller.</summary>
    public virtual ValueTask<Errno> ReleaseAsync(FuseRequestContext context, ulong ino, FuseFileHandle file) => new(Errno.Success);

    public virtual ValueTask<Errno> SyncAsync(FuseRequestContext context, ulong ino, ulong fileHandle, bool dataOnly) => NotImplemented();

    public virtual ValueTask<FuseResult<FuseOpenedFile>> OpenDirectoryAsync(FuseRequestContext context, ulong ino, int flags) => NotImplemented<FuseOpenedFile>();

    /// <summary>
    /// Fills <paramref name="buffer"/> with entries after <paramref name="offset"/> (0 = from the start). Offsets
    /// are the filesystem's cookies: stable while entries come and go. For readdirplus
    /// (<see cref="DirectoryBuffer.IsPlus"/>) add full entries; each one counts as a lookup.
    /// Registered for readdirplus as well unless <see cref="FuseMountOptions.ReadDirPlus"/> is off.
    /// </summary>
    public virtual ValueTask<Errno> ReadDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle, long offset, DirectoryBuffer buffer) => NotImplemented();

    public virtual ValueTask<Errno> ReleaseDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle) => new(Errno.Success);

    public virtual ValueTask<Errno> SyncDirectoryAsync(FuseRequestContext context, ulong ino, ulong fileHandle, bool dataOnly) => NotImplemented();

    public virtual ValueTask<FuseResult<FileSystemStatistics>> GetStatisticsAsync(FuseRequestContext context, ulong ino) => NotImplemented<FileSystemStatistics>();

    public virtual ValueTask<Errno> SetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name, ReadOnlyMemory<byte> value, XAttrCondition condition) => NotImplemented();

    /// <summary>Returns the whole value (ENODATA when absent); the binding answers size probes and ERANGE itself.</summary>
    public virtual ValueTask<FuseResult<ReadOnlyMemory<byte>>> GetExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name) => NotImplemented<ReadOnlyMemory<byte>>();

    /// <summary>Returns every attribute name; the binding encodes the list and answers size probes and ERANGE.</summary>
    public virtual ValueTask<FuseResult<IReadOnlyList<string>>> ListExtendedAttributesAsync(FuseRequestContext context, ulong ino) => NotImplemented<IReadOnlyList<string>>();

    public virtual ValueTask<Errno> RemoveExtendedAttributeAsync(FuseRequestContext context, ulong ino, string name) => NotImplemented();

    /// <summary>access(2) check; not called with <see cref="FuseMountOptions.DefaultPermissions"/>.</summary>
    public virtual ValueTask<Errno> AccessAsync(FuseRequestContext context, ulong ino, int mask) => NotImplemented();

    /// <summary>Creates and opens a regular file (<paramref name="mode"/> includes S_IFREG).</summary>
    public virtual ValueTask<FuseResult<(FuseEntry Entry, FuseOpenedFile File)>> CreateAsync(FuseRequestContext context, ulong parent, string name, uint mode, int flags) => NotImplemented<(FuseEntry, FuseOpenedFile)>();

    /// <summary>F_GETLK: returns the first conflicting lock, or the probe with type <see cref="PosixLockType.Unlock"/> when none.</summary>
    public virtual ValueTask<FuseResult<PosixLock>> GetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock probe) => NotImplemented<PosixLock>();

    /// <summary>F_SETLK / F_SETLKW (<paramref name="wait"/>): owner is <see cref="FuseFileHandle.LockOwner"/>; a wait ends on <see cref="FuseRequestContext.Interrupted"/> with EINTR.</summary>
    public virtual ValueTask<Errno> SetLockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, PosixLock lockRange, bool wait) => NotImplemented();

    /// <summary>flock(2): owner is <see cref="FuseFileHandle.LockOwner"/>; a blocking request ends on <see cref="FuseRequestContext.Interrupted"/> with EINTR.</summary>
    public virtual ValueTask<Errno> FlockAsync(FuseRequestContext context, ulong ino, FuseFileHandle file, FlockOperation operation) => NotImplemented();
}
