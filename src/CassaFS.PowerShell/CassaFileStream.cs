namespace CassaFS.PowerShell;

/// <summary>A Stream over an open CassaFS file handle (sequential, with position), so readers and encoders work on it.</summary>
public sealed class CassaFileStream : Stream
{
    private readonly CassaFileSystem _fs;
    private readonly FileHandle _handle;
    private readonly bool _canWrite;
    private long _length;
    private bool _released;

    public CassaFileStream(CassaFileSystem fs, FileHandle handle, long length, bool canWrite, long position = 0)
    {
        _fs = fs;
        _handle = handle;
        _length = length;
        _canWrite = canWrite;
        Position = position;
    }

    public override bool CanRead => !_canWrite;
    public override bool CanSeek => true;
    public override bool CanWrite => _canWrite;
    public override long Length => _length;
    public override long Position { get; set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await _fs.ReadAsync(_handle, Position, buffer, cancellationToken).ConfigureAwait(false);
        Position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var written = 0;
        while (written < buffer.Length)
        {
            var n = await _fs.WriteAsync(_handle, Position, buffer[written..], cancellationToken).ConfigureAwait(false);
            written += n;
            Position += n;
        }
        _length = Math.Max(_length, Position);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => _canWrite ? _fs.FlushAsync(_handle, cancellationToken) : Task.CompletedTask;

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) =>
        Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => Position + offset, _ => _length + offset };

    public override void SetLength(long value) => throw new NotSupportedException("Truncate through the filesystem's SetAttrAsync.");

    public override async ValueTask DisposeAsync()
    {
        if (!_released)
        {
            _released = true;
            await _fs.ReleaseAsync(_handle).ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_released)
        {
            _released = true;
            _fs.ReleaseAsync(_handle).GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }
}
