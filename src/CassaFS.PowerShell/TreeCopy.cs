using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>What one entry of a copied tree is.</summary>
public enum CopyEntryKind
{
    File,
    Directory,
    SymbolicLink,
}

/// <summary>An entry's kind and the metadata a copy keeps: permission bits (07777), times, size, a link's target.</summary>
public sealed record CopyEntry(CopyEntryKind Kind, int Mode, long Size, DateTimeOffset LastWriteTime, DateTimeOffset LastAccessTime, string? LinkTarget = null);

/// <summary>
/// One side of <see cref="TreeCopy"/>: the local disk or a cassa: drive. Paths are that side's own (a local absolute
/// path, or a drive-qualified cassa: path). Streams returned hold whatever lock the side takes until disposed.
/// </summary>
public interface ICopySide
{
    /// <summary>The entry at a path, not following a final symbolic link; null when nothing is there.</summary>
    Task<CopyEntry?> StatAsync(string path, CancellationToken ct);

    /// <summary>Whether the path is a directory, following symbolic links.</summary>
    Task<bool> IsDirectoryAsync(string path, CancellationToken ct);

    /// <summary>A directory's entry names.</summary>
    IAsyncEnumerable<string> ListAsync(string path, CancellationToken ct);

    string Join(string directory, string name);

    string Name(string path);

    Task<Stream> OpenReadAsync(string path, CancellationToken ct);

    /// <summary>Creates (or, with <paramref name="overwrite"/>, replaces the content of) a file; an existing one without it is EEXIST.</summary>
    Task<Stream> CreateAsync(string path, bool overwrite, CancellationToken ct);

    /// <summary>Makes a directory; an existing directory is kept (the copy merges into it).</summary>
    Task MakeDirectoryAsync(string path, CancellationToken ct);

    Task MakeLinkAsync(string path, string target, bool overwrite, CancellationToken ct);

    /// <summary>Sets the permission bits and times of what was just copied.</summary>
    Task SetMetadataAsync(string path, CopyEntry from, CancellationToken ct);
}

/// <summary>How far a copy has got, for Write-Progress.</summary>
public sealed record CopyProgress(string Source, string Destination, long BytesDone, long BytesTotal, int FilesDone, int FilesTotal);

/// <summary>
/// Copy-CassaItem's logic: copies a file, a link or (with recurse) a tree from one side to the other, keeping permission
/// bits and times; links are copied as links. It first walks the source (so progress has a total), then copies in
/// that order; a directory's own mode and times are set after its content, so a read-only directory still fills.
/// </summary>
public sealed class TreeCopy(ICopySide source, ICopySide destination)
{
    private const int ChunkSize = 1 << 20;

    public bool Recurse { get; init; }
    /// <summary>Replace existing files (and links) at the destination; without it they are an EEXIST error.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Where a copy of <paramref name="from"/> to <paramref name="to"/> lands: inside an existing directory under the source's name, else <paramref name="to"/> itself.</summary>
    public async Task<string> TargetAsync(string from, string to, CancellationToken ct) =>
        await destination.IsDirectoryAsync(to, ct).ConfigureAwait(false) ? destination.Join(to, source.Name(from)) : to;

    /// <summary>Copies <paramref name="from"/> to the exact path <paramref name="to"/> (see <see cref="TargetAsync"/>).</summary>
    public async Task CopyAsync(string from, string to, Action<CopyProgress>? progress = null, CancellationToken ct = default)
    {
        var plan = new List<(string From, string To, CopyEntry Entry)>();
        var top = await source.StatAsync(from, ct).ConfigureAwait(false) ?? throw new FileSystemException(Errno.ENOENT, from, "the item to copy does not exist");
        await PlanAsync(from, to, top, plan, ct).ConfigureAwait(false);
        var bytesTotal = plan.Where(p => p.Entry.Kind == CopyEntryKind.File).Sum(p => p.Entry.Size);
        var filesTotal = plan.Count(p => p.Entry.Kind == CopyEntryKind.File);
        long bytesDone = 0;
        var filesDone = 0;
        var directories = new Stack<(string To, CopyEntry Entry)>();
        foreach (var (f, t, entry) in plan)
        {
            ct.ThrowIfCancellationRequested();
            switch (entry.Kind)
            {
                case CopyEntryKind.Directory:
                    await destination.MakeDirectoryAsync(t, ct).ConfigureAwait(false);
                    directories.Push((t, entry));
                    break;
                case CopyEntryKind.SymbolicLink:
                    await destination.MakeLinkAsync(t, entry.LinkTarget ?? "", Overwrite, ct).ConfigureAwait(false);
                    break;
                default:
                    await using (var input = await source.OpenReadAsync(f, ct).ConfigureAwait(false))
                    await using (var output = await destination.CreateAsync(t, Overwrite, ct).ConfigureAwait(false))
                    {
                        var buffer = new byte[(int)Math.Clamp(entry.Size, 1, ChunkSize)];
                        int n;
                        while ((n = await input.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                        {
                            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                            bytesDone += n;
                            progress?.Invoke(new CopyProgress(f, t, bytesDone, bytesTotal, filesDone, filesTotal));
                        }
                    }
                    await destination.SetMetadataAsync(t, entry, ct).ConfigureAwait(false);
                    filesDone++;
                    progress?.Invoke(new CopyProgress(f, t, bytesDone, bytesTotal, filesDone, filesTotal));
                    break;
            }
        }
        // Deepest first: setting a directory's times before its children are written would lose them.
        while (directories.Count > 0)
        {
            var (t, entry) = directories.Pop();
            await destination.SetMetadataAsync(t, entry, ct).ConfigureAwait(false);
        }
    }

    private async Task PlanAsync(string from, string to, CopyEntry entry, List<(string, string, CopyEntry)> plan, CancellationToken ct)
    {
        plan.Add((from, to, entry));
        if (entry.Kind != CopyEntryKind.Directory || !Recurse) return;
        await foreach (var name in source.ListAsync(from, ct).ConfigureAwait(false))
        {
            var child = source.Join(from, name);
            var childEntry = await source.StatAsync(child, ct).ConfigureAwait(false);
            if (childEntry is null) continue; // removed since it was listed
            await PlanAsync(child, destination.Join(to, name), childEntry, plan, ct).ConfigureAwait(false);
        }
    }
}

/// <summary>The local disk as a side of a copy (System.IO; no locks: local programs do not take CassaFS's).</summary>
public sealed partial class LocalCopySide : ICopySide
{
    public Task<CopyEntry?> StatAsync(string path, CancellationToken ct)
    {
        var file = new FileInfo(path);
        CopyEntry? entry;
        if (file.LinkTarget is { } target)
            entry = new CopyEntry(CopyEntryKind.SymbolicLink, 0x1FF, 0, file.LastWriteTimeUtc, file.LastAccessTimeUtc, target);
        else if (Directory.Exists(path))
        {
            var dir = new DirectoryInfo(path);
            entry = new CopyEntry(CopyEntryKind.Directory, (int)dir.UnixFileMode, 0, dir.LastWriteTimeUtc, dir.LastAccessTimeUtc);
        }
        else if (file.Exists)
        {
            if (!IsRegular(path))
                throw new FileSystemException(Errno.EOPNOTSUPP, path, "is a special file (device, pipe or socket); Copy-CassaItem copies files, directories and links");
            entry = new CopyEntry(CopyEntryKind.File, (int)file.UnixFileMode, file.Length, file.LastWriteTimeUtc, file.LastAccessTimeUtc);
        }
        else entry = null;
        return Task.FromResult(entry);
    }

    // System.IO cannot tell a FIFO or a device from a file, and opening a FIFO to look would block: ask statx(2) for the
    // type (its layout is the same on every Linux architecture). Elsewhere, assume a file.
    private static bool IsRegular(string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        var buffer = new byte[256];
        if (NativeMethods.statx(-100 /* AT_FDCWD */, path, 0x100 /* AT_SYMLINK_NOFOLLOW */, 0x1 /* STATX_TYPE */, buffer) != 0) return true; // let the open report it
        var mode = BitConverter.ToUInt16(buffer, 28); // stx_mode
        return (mode & 0xF000) == 0x8000; // S_IFREG
    }

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "statx", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
        internal static partial int statx(int dirfd, string path, int flags, uint mask, [System.Runtime.InteropServices.Out] byte[] buffer);
    }

    public Task<bool> IsDirectoryAsync(string path, CancellationToken ct) => Task.FromResult(Directory.Exists(path));

    public async IAsyncEnumerable<string> ListAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var entry in new DirectoryInfo(path).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false }).OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            yield return entry.Name;
        }
    }

    public string Join(string directory, string name) => System.IO.Path.Join(directory, name);

    public string Name(string path) => System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path));

    public Task<Stream> OpenReadAsync(string path, CancellationToken ct) =>
        Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, useAsync: true));

    public Task<Stream> CreateAsync(string path, bool overwrite, CancellationToken ct)
    {
        try
        {
            return Task.FromResult<Stream>(new FileStream(path, overwrite ? FileMode.Create : FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true));
        }
        catch (IOException e) when (!overwrite && File.Exists(path))
        {
            throw new FileSystemException(Errno.EEXIST, path, "the destination exists; use -Force to overwrite it", e);
        }
    }

    public Task MakeDirectoryAsync(string path, CancellationToken ct)
    {
        if (File.Exists(path)) throw new FileSystemException(Errno.EEXIST, path, "a file is in the way of the directory to copy");
        Directory.CreateDirectory(path);
        return Task.CompletedTask;
    }

    public Task MakeLinkAsync(string path, string target, bool overwrite, CancellationToken ct)
    {
        if (new FileInfo(path).LinkTarget is not null || File.Exists(path))
        {
            if (!overwrite) throw new FileSystemException(Errno.EEXIST, path, "the destination exists; use -Force to overwrite it");
            File.Delete(path);
        }
        File.CreateSymbolicLink(path, target);
        return Task.CompletedTask;
    }

    public Task SetMetadataAsync(string path, CopyEntry from, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(from);
        if (from.Kind == CopyEntryKind.SymbolicLink) return Task.CompletedTask; // the link's own mode and times: lchmod does not exist
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)(from.Mode & 0xFFF));
        File.SetLastWriteTimeUtc(path, from.LastWriteTime.UtcDateTime);
        File.SetLastAccessTimeUtc(path, from.LastAccessTime.UtcDateTime);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A cassa: drive as a side of a copy. Lock-aware as Set-Content and Get-Content -LockTimeoutSeconds are: each file is
/// read under its shared lock and written under its write lock (the keys a mount's flock takes), waiting up to the
/// lock timeout given, so a copy never reads or lands in the middle of another client's locked write.
/// </summary>
public sealed class CassaCopySide(CassaDriveSession drive, TimeSpan? lockTimeout) : ICopySide
{
    private CassaFileSystem Fs => drive.FileSystem;

    public async Task<CopyEntry?> StatAsync(string path, CancellationToken ct)
    {
        Inode inode;
        try
        {
            inode = await Fs.ResolveAsync(drive.Resolve(path), drive.Caller, false, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.ENOENT)
        {
            return null;
        }
        var kind = inode.Type switch
        {
            FileType.Directory => CopyEntryKind.Directory,
            FileType.Symlink => CopyEntryKind.SymbolicLink,
            FileType.Regular => CopyEntryKind.File,
            _ => throw new FileSystemException(Errno.EOPNOTSUPP, path, "is a special file (device, pipe or socket); Copy-CassaItem copies files, directories and links"),
        };
        return new CopyEntry(kind, inode.Mode, inode.Size, inode.Mtime.ToDateTimeOffset(), inode.Atime.ToDateTimeOffset(), inode.Target);
    }

    public async Task<bool> IsDirectoryAsync(string path, CancellationToken ct)
    {
        try
        {
            return (await Fs.ResolveAsync(drive.Resolve(path), drive.Caller, true, ct).ConfigureAwait(false)).IsDirectory;
        }
        catch (FileSystemException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP)
        {
            return false;
        }
    }

    public async IAsyncEnumerable<string> ListAsync(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var dir = await Fs.ResolveAsync(drive.Resolve(path), drive.Caller, false, ct).ConfigureAwait(false);
        await foreach (var e in Fs.ReadDirectoryAsync(dir.Id, drive.Caller, null, ct).ConfigureAwait(false)) yield return e.Name;
    }

    public string Join(string directory, string name) => ProviderPath.Join(directory, name);

    public string Name(string path) => ProviderPath.Name(path);

    public async Task<Stream> OpenReadAsync(string path, CancellationToken ct)
    {
        var full = drive.Resolve(path);
        var inode = await Fs.ResolveAsync(full, drive.Caller, false, ct).ConfigureAwait(false);
        var held = await FileLock.AcquireAsync(drive, inode.Id, full, LockMode.Read, $"Copy-CassaItem {full}", lockTimeout, ct).ConfigureAwait(false);
        try
        {
            var handle = await Fs.OpenAsync(inode.Id, OpenFlags.ReadOnly, drive.Caller, ct).ConfigureAwait(false);
            return new LockedStream(new CassaFileStream(Fs, handle, inode.Size, false), held);
        }
        catch
        {
            await held.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task<Stream> CreateAsync(string path, bool overwrite, CancellationToken ct)
    {
        var full = drive.Resolve(path);
        var (parent, name) = await Fs.ResolveParentAsync(full, drive.Caller, ct).ConfigureAwait(false);
        FileHandle handle;
        Inode inode;
        try
        {
            // Created empty (or opened as it is): the content is replaced only once the write lock is held.
            (handle, inode) = await Fs.CreateAsync(parent.Id, name, 0x180, OpenFlags.WriteOnly | OpenFlags.Create | (overwrite ? 0 : OpenFlags.Exclusive), drive.Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            throw new FileSystemException(Errno.EEXIST, full, "the destination exists; use -Force to overwrite it", e);
        }
        ILockHandle? held = null;
        try
        {
            if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, full, "a directory is in the way of the file to copy");
            held = await FileLock.AcquireAsync(drive, inode.Id, full, LockMode.Write, $"Copy-CassaItem {full}", lockTimeout, ct).ConfigureAwait(false);
            await Fs.SetAttrAsync(inode.Id, new AttributeChanges { Size = 0 }, drive.Caller, handle, ct).ConfigureAwait(false);
            return new LockedStream(new CassaFileStream(Fs, handle, 0, true), held);
        }
        catch
        {
            await Fs.ReleaseAsync(handle, CancellationToken.None).ConfigureAwait(false);
            if (held is not null) await held.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task MakeDirectoryAsync(string path, CancellationToken ct)
    {
        var full = drive.Resolve(path);
        var (parent, name) = await Fs.ResolveParentAsync(full, drive.Caller, ct).ConfigureAwait(false);
        try
        {
            await Fs.MkdirAsync(parent.Id, name, 0x1C0, drive.Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            if (!await IsDirectoryAsync(full, ct).ConfigureAwait(false))
                throw new FileSystemException(Errno.EEXIST, full, "a file is in the way of the directory to copy", e);
        }
    }

    public async Task MakeLinkAsync(string path, string target, bool overwrite, CancellationToken ct)
    {
        var full = drive.Resolve(path);
        var (parent, name) = await Fs.ResolveParentAsync(full, drive.Caller, ct).ConfigureAwait(false);
        try
        {
            await Fs.SymlinkAsync(parent.Id, name, target, drive.Caller, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.EEXIST)
        {
            if (!overwrite) throw new FileSystemException(Errno.EEXIST, full, "the destination exists; use -Force to overwrite it", e);
            await Fs.UnlinkAsync(parent.Id, name, drive.Caller, ct).ConfigureAwait(false);
            await Fs.SymlinkAsync(parent.Id, name, target, drive.Caller, ct).ConfigureAwait(false);
        }
    }

    public async Task SetMetadataAsync(string path, CopyEntry from, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(from);
        var inode = await Fs.ResolveAsync(drive.Resolve(path), drive.Caller, false, ct).ConfigureAwait(false);
        var changes = new AttributeChanges
        {
            Mode = from.Kind == CopyEntryKind.SymbolicLink ? null : from.Mode & 0xFFF,
            Mtime = TimeChange.To(Timespec.FromDateTimeOffset(from.LastWriteTime)),
            Atime = TimeChange.To(Timespec.FromDateTimeOffset(from.LastAccessTime)),
        };
        await Fs.SetAttrAsync(inode.Id, changes, drive.Caller, null, ct).ConfigureAwait(false);
    }

    /// <summary>A file stream that releases the file's lock after the file is closed (its data committed).</summary>
    private sealed class LockedStream(CassaFileStream inner, ILockHandle held) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (held.State == LockState.Lost) throw new LockLostException(held.Key, "reading the file to copy");
            return inner.ReadAsync(buffer, cancellationToken);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (held.State == LockState.Lost) throw new LockLostException(held.Key, "writing the copy");
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        private int _closed;

        private async Task CloseAsync()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            try
            {
                await inner.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                await held.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            await CloseAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            try
            {
                if (disposing) CloseAsync().GetAwaiter().GetResult();
            }
            finally
            {
                base.Dispose(disposing);
            }
        }
    }
}
