using System.Text;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>Get-Content's choices.</summary>
public sealed record ContentReadOptions
{
    /// <summary>Text encoding (UTF-8 by default; a byte order mark in the file wins).</summary>
    public Encoding Encoding { get; init; } = new UTF8Encoding(false);
    /// <summary>The whole content as one string (or one byte[] with <see cref="AsByteStream"/>).</summary>
    public bool Raw { get; init; }
    /// <summary>Bytes instead of lines.</summary>
    public bool AsByteStream { get; init; }
    /// <summary>Lines (or bytes) per block handed down the pipeline; 0 or less: everything in one block.</summary>
    public long ReadCount { get; init; } = 1;
    /// <summary>Stop after this many lines (or bytes); negative: all.</summary>
    public long TotalCount { get; init; } = -1;
    /// <summary>
    /// Take the file's shared lock first, waiting up to this long for a writer's (Lock-CassaItem, Set-Content, flock on
    /// a mount). Null, the default, reads without a lock, as the FileSystem provider does: a reader never waits.
    /// </summary>
    public TimeSpan? LockTimeout { get; init; }
    /// <summary>-Delimiter: items end after this text (and include it) instead of at line ends.</summary>
    public string? Delimiter { get; init; }
    /// <summary>-Wait: at the end, keep waiting for what others append (polled every <see cref="FollowInterval"/>) until stopped.</summary>
    public bool Follow { get; init; }
    public TimeSpan FollowInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Asked between polls of -Wait: true once the command is being stopped (Ctrl+C), which ends the read.</summary>
    public Func<bool>? Stopped { get; init; }
}

/// <summary>
/// Reads a file for Get-Content, streaming block by block: lines (or delimited items) decoded with the encoding, or
/// bytes. Without a lock unless asked (<see cref="ContentReadOptions.LockTimeout"/>): then it holds the file's shared
/// lock, so no other client's lock-aware write is in progress while it reads.
/// </summary>
public sealed class ContentReader : IAsyncDisposable
{
    private readonly ContentReadOptions _options;
    private readonly ILockHandle? _lock;
    private readonly CassaFileStream _stream;
    private readonly StreamReader? _text;
    private long _delivered;
    private bool _rawDone;

    private ContentReader(ContentReadOptions options, ILockHandle? fileLock, CassaFileStream stream)
    {
        _options = options;
        _lock = fileLock;
        _stream = stream;
        if (!options.AsByteStream) _text = new StreamReader(stream, options.Encoding, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: true);
    }

    /// <summary>The file's path.</summary>
    public string Path { get; private init; } = "";

    /// <summary>Opens the file for reading (taking its shared lock first when the options ask for it).</summary>
    /// <exception cref="ItemLockedException">Asked to lock, and a writer held the lock past the timeout.</exception>
    /// <exception cref="FileSystemException">ENOENT, EISDIR (a directory has no content), EACCES.</exception>
    public static async Task<ContentReader> OpenAsync(CassaDriveSession drive, string path, ContentReadOptions? options = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        options ??= new ContentReadOptions();
        var full = drive.Resolve(path);
        var fs = drive.FileSystem;
        var inode = await fs.ResolveAsync(full, drive.Caller, true, ct).ConfigureAwait(false);
        if (inode.IsDirectory) throw new FileSystemException(Errno.EISDIR, full, "a directory has no content; use Get-ChildItem");
        var held = options.LockTimeout is { } wait
            ? await FileLock.AcquireAsync(drive, inode.Id, full, LockMode.Read, $"Get-Content {full}", wait, ct).ConfigureAwait(false)
            : null;
        try
        {
            var handle = await fs.OpenAsync(inode.Id, OpenFlags.ReadOnly, drive.Caller, ct).ConfigureAwait(false);
            var size = (await fs.GetAttrAsync(inode.Id, ct).ConfigureAwait(false)).Size;
            return new ContentReader(options, held, new CassaFileStream(fs, handle, size, false)) { Path = full };
        }
        catch
        {
            if (held is not null) await held.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The next block of <see cref="ContentReadOptions.ReadCount"/> items: strings (lines, or one string with -Raw) or bytes; empty at the end.</summary>
    public Task<IReadOnlyList<object>> ReadBlockAsync(CancellationToken ct = default) => ReadBlockAsync(_options.ReadCount, ct);

    /// <summary>The next block of at most <paramref name="maxItems"/> items (0 or less: all that remain).</summary>
    public async Task<IReadOnlyList<object>> ReadBlockAsync(long maxItems, CancellationToken ct = default)
    {
        var block = new List<object>();
        var remaining = _options.TotalCount < 0 ? long.MaxValue : _options.TotalCount - _delivered;
        if (remaining <= 0) return block;
        if (_options.Raw)
        {
            if (_rawDone) return block;
            _rawDone = true;
            if (_text is not null)
            {
                block.Add(await _text.ReadToEndAsync(ct).ConfigureAwait(false));
            }
            else
            {
                using var all = new MemoryStream();
                await _stream.CopyToAsync(all, ct).ConfigureAwait(false);
                block.Add(all.ToArray());
            }
            return block;
        }
        var limit = maxItems <= 0 ? remaining : Math.Min(remaining, maxItems);
        if (_text is not null)
        {
            while (block.Count < limit)
            {
                var item = await NextTextAsync(ct).ConfigureAwait(false);
                if (item is null)
                {
                    // At the end: -Wait hands over what it has, then waits for more; otherwise the read is over.
                    if (!_options.Follow || block.Count > 0 || _options.Stopped?.Invoke() == true) break;
                    await Task.Delay(_options.FollowInterval, ct).ConfigureAwait(false);
                    continue;
                }
                block.Add(item);
            }
        }
        else
        {
            var buffer = new byte[(int)Math.Min(limit, 64 * 1024)];
            while (block.Count < limit)
            {
                var n = await _stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, limit - block.Count)), ct).ConfigureAwait(false);
                if (n == 0) break;
                for (var i = 0; i < n; i++) block.Add(buffer[i]);
            }
        }
        _delivered += block.Count;
        return block;
    }

    private readonly char[] _chunk = new char[8192];
    private string _pending = "";
    private int _start; // where the next item begins in _pending
    private int _scanFrom; // where the search for its terminator resumes

    /// <summary>
    /// The next line, or with a delimiter the next item (the delimiter dropped, as FileSystem does); null at the end for
    /// now. Plain reads use ReadLine; -Wait and -Delimiter split themselves, because ReadLine hands out a line's first
    /// half when the file ends in the middle of it, which -Wait would then emit as two lines when the rest is appended.
    /// </summary>
    private async Task<string?> NextTextAsync(CancellationToken ct)
    {
        var delimiter = _options.Delimiter is { Length: > 0 } d ? d : null;
        if (delimiter is null && !_options.Follow) return await _text!.ReadLineAsync(ct).ConfigureAwait(false);
        var terminator = delimiter ?? "\n";
        while (true)
        {
            var at = _pending.IndexOf(terminator, _scanFrom, StringComparison.Ordinal);
            if (at >= 0)
            {
                var item = _pending[_start..at];
                _start = _scanFrom = at + terminator.Length;
                return delimiter is null && item.EndsWith('\r') ? item[..^1] : item;
            }
            _scanFrom = Math.Max(_start, _pending.Length - terminator.Length + 1);
            var n = await _text!.ReadAsync(_chunk, ct).ConfigureAwait(false);
            if (n == 0) break;
            _scanFrom -= _start;
            _pending = string.Concat(_pending.AsSpan(_start), _chunk.AsSpan(0, n));
            _start = 0;
        }
        // The last item has no terminator after it; -Wait keeps it until one comes.
        if (_start == _pending.Length || _options.Follow) return null;
        var last = _pending[_start..];
        _start = _scanFrom = _pending.Length;
        return last;
    }

    /// <summary>Every block until the end (or TotalCount).</summary>
    public async IAsyncEnumerable<IReadOnlyList<object>> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            var block = await ReadBlockAsync(ct).ConfigureAwait(false);
            if (block.Count == 0) yield break;
            yield return block;
        }
    }

    /// <summary>Closes the file, then releases the shared lock if it took one.</summary>
    public async ValueTask DisposeAsync()
    {
        _text?.Dispose();
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_lock is not null) await _lock.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}
