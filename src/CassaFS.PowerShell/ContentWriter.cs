using System.Collections;
using System.Globalization;
using System.Text;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>Set-Content / Add-Content's choices.</summary>
public sealed record ContentWriteOptions
{
    /// <summary>Text encoding (UTF-8 without BOM by default, as PowerShell 7); its preamble is written at the start of a file.</summary>
    public Encoding Encoding { get; init; } = new UTF8Encoding(false);
    /// <summary>Items are bytes (byte, byte[]) written as they are.</summary>
    public bool AsByteStream { get; init; }
    /// <summary>No newline after each item.</summary>
    public bool NoNewline { get; init; }
    /// <summary>Add-Content: write at the end instead of replacing the content.</summary>
    public bool Append { get; init; }
    /// <summary>How long to wait for another client's lock; null: the drive's lock timeout.</summary>
    public TimeSpan? LockTimeout { get; init; }
}

/// <summary>
/// Writes a file for Set-Content / Add-Content holding the file's write lock from open to close, so the whole write
/// is one unit to every other lock-aware client (another PowerShell session, flock on a mount): no interleaving.
/// A missing file is created; the lock is taken before the content is truncated or the end is found.
/// </summary>
public sealed class ContentWriter : IAsyncDisposable
{
    private readonly ContentWriteOptions _options;
    private readonly ILockHandle _lock;
    private readonly CassaFileStream _stream;
    private readonly byte[] _newline;
    private readonly CassaFileSystem _fs;
    private readonly FileHandle _handle;
    private readonly Caller _caller;
    private readonly Guid _inode;
    private bool _pendingTruncate;
    private bool _started;

    private ContentWriter(ContentWriteOptions options, ILockHandle fileLock, CassaFileStream stream, CassaFileSystem fs, FileHandle handle, Caller caller, Guid inode)
    {
        _options = options;
        _lock = fileLock;
        _stream = stream;
        _fs = fs;
        _handle = handle;
        _caller = caller;
        _inode = inode;
        _pendingTruncate = !options.Append;
        _newline = options.Encoding.GetBytes("\n");
    }

    public string Path { get; private init; } = "";

    /// <summary>The fencing token of the write lock held (greater than any earlier holder's).</summary>
    public long FencingToken => _lock.FencingToken;

    /// <exception cref="ItemLockedException">Another client held the file's lock past the timeout.</exception>
    public static async Task<ContentWriter> OpenAsync(CassaDriveSession drive, string path, ContentWriteOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        options ??= new ContentWriteOptions();
        var fs = drive.FileSystem;
        var full = drive.Resolve(path);
        Inode inode;
        try
        {
            inode = await fs.ResolveAsync(full, drive.Caller, true, ct).ConfigureAwait(false);
        }
        catch (FileSystemException e) when (e.Errno == Errno.ENOENT)
        {
            var (parent, name) = await fs.ResolveParentAsync(full, drive.Caller, ct).ConfigureAwait(false);
            var (created, createdInode) = await fs.CreateAsync(parent.Id, name, 0x1A4, OpenFlags.WriteOnly | OpenFlags.Create, drive.Caller, ct).ConfigureAwait(false);
            await fs.ReleaseAsync(created, ct).ConfigureAwait(false);
            inode = createdInode;
        }
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, full, "a directory has no content");
        var purpose = $"{(options.Append ? "Add-Content" : "Set-Content")} {full}";
        var held = await FileLock.AcquireAsync(drive, inode.Id, full, LockMode.Write, purpose, options.LockTimeout, ct).ConfigureAwait(false);
        try
        {
            // No O_TRUNC here: the content is replaced at the first write (or at close), always under the lock just taken.
            var handle = await fs.OpenAsync(inode.Id, OpenFlags.WriteOnly, drive.Caller, ct).ConfigureAwait(false);
            var size = options.Append ? (await fs.GetAttrAsync(inode.Id, ct).ConfigureAwait(false)).Size : 0;
            var stream = new CassaFileStream(fs, handle, size, true, size);
            return new ContentWriter(options, held, stream, fs, handle, drive.Caller, inode.Id) { Path = full };
        }
        catch
        {
            await held.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Writes items: text lines (each followed by a newline unless NoNewline) or, with AsByteStream, bytes.</summary>
    public async Task WriteAsync(IEnumerable items, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (_lock.State == LockState.Lost) throw new LockLostException(_lock.Key, $"writing {Path}");
        await StartAsync(ct).ConfigureAwait(false);
        foreach (var item in items)
        {
            if (_options.AsByteStream)
            {
                var bytes = item switch
                {
                    byte b => [b],
                    byte[] a => a,
                    IEnumerable e and not string => e.Cast<object>().Select(o => Convert.ToByte(o, CultureInfo.InvariantCulture)).ToArray(),
                    _ => [Convert.ToByte(item, CultureInfo.InvariantCulture)],
                };
                await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
                continue;
            }
            var text = Convert.ToString(item, CultureInfo.InvariantCulture) ?? "";
            await _stream.WriteAsync(_options.Encoding.GetBytes(text), ct).ConfigureAwait(false);
            if (!_options.NoNewline) await _stream.WriteAsync(_newline, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Add-Content: the next write goes at the end of the file as it is under the lock.</summary>
    public async Task<long> SeekToEndAsync(CancellationToken ct = default)
    {
        _pendingTruncate = false;
        var size = (await _fs.GetAttrAsync(_inode, ct).ConfigureAwait(false)).Size;
        if (!_started) _stream.Position = size;
        return size;
    }

    private async Task StartAsync(CancellationToken ct)
    {
        if (_started) return;
        _started = true;
        if (_pendingTruncate)
        {
            _pendingTruncate = false;
            await _fs.SetAttrAsync(_inode, new AttributeChanges { Size = 0 }, _caller, _handle, ct).ConfigureAwait(false);
            _stream.Position = 0;
        }
        var preamble = _options.Encoding.GetPreamble();
        if (_stream.Position == 0 && preamble.Length > 0 && !_options.AsByteStream) await _stream.WriteAsync(preamble, ct).ConfigureAwait(false);
    }

    /// <summary>Clear-Content: empties a file under its write lock.</summary>
    public static async Task ClearAsync(CassaDriveSession drive, string path, TimeSpan? lockTimeout = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        var full = drive.Resolve(path);
        var inode = await drive.FileSystem.ResolveAsync(full, drive.Caller, true, ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, full, "a directory has no content");
        await using var held = await FileLock.AcquireAsync(drive, inode.Id, full, LockMode.Write, $"Clear-Content {full}", lockTimeout, ct).ConfigureAwait(false);
        await drive.FileSystem.SetAttrAsync(inode.Id, new AttributeChanges { Size = 0 }, drive.Caller, null, ct).ConfigureAwait(false);
    }

    /// <summary>Closes the file (its data is committed), then releases the write lock.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_pendingTruncate) await StartAsync(CancellationToken.None).ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            await _lock.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}
